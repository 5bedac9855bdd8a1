// The console of `trellis up`. On a terminal: the status view redrawn in place (process output
// goes to log files only; see `trellis logs`). Otherwise: one line per event and every app's
// output prefixed with its replica (`catalog-1 | ...`).
import { renderStatus, type StatusModel } from './status.js';

export interface ConsoleView {
  event(message: string, detail?: readonly string[]): void;
  line(name: string, line: string): void;
  /** The model changed: redraw (throttled) on a terminal. */
  changed(): void;
  /** Final redraw; afterwards output is plain lines. */
  close(): void;
}

const time = (): string => new Date().toTimeString().slice(0, 8);

export function createConsoleView(
  out: NodeJS.WriteStream,
  model: () => StatusModel,
  opts: { tty: boolean },
): { view: ConsoleView; events: string[] } {
  // A closed terminal or pipe must not take `trellis up` down before it stopped its children.
  out.on('error', () => undefined);
  const events: string[] = [];
  const remember = (message: string, detail: readonly string[] = []) => {
    events.push(`${time()} ${message}`, ...detail.map((d) => `         ${d}`));
    if (events.length > 200) events.splice(0, events.length - 200);
  };
  if (!opts.tty) {
    const view: ConsoleView = {
      event(message, detail = []) {
        remember(message, detail);
        out.write(`[up] ${message}\n${detail.map((d) => `[up]   ${d}\n`).join('')}`);
      },
      line(name, line) {
        out.write(`${name} | ${line}\n`);
      },
      changed() {},
      close() {},
    };
    return { view, events };
  }

  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const draw = () => {
    timer = undefined;
    const width = Math.max(40, (out.columns ?? 120) - 1);
    const maxLines = Math.max(10, (out.rows ?? 40) - 1);
    const lines = renderStatus(model(), width).slice(0, maxLines);
    // Up to where the last frame started, clear to the end of the screen, draw.
    out.write(`${drawn > 0 ? `\x1b[${drawn}F` : '\r'}\x1b[0J${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const schedule = () => {
    if (!closed && timer === undefined) timer = setTimeout(draw, 100);
  };
  const tick = setInterval(schedule, 1000);
  tick.unref();
  const view: ConsoleView = {
    event(message, detail = []) {
      remember(message, detail);
      if (closed) out.write(`[up] ${message}\n${detail.map((d) => `[up]   ${d}\n`).join('')}`);
      else schedule();
    },
    line() {},
    changed: schedule,
    close() {
      if (closed) return;
      if (timer) clearTimeout(timer);
      clearInterval(tick);
      draw();
      closed = true;
    },
  };
  return { view, events };
}
