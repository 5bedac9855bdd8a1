// One process `trellis up` runs: spawned in its own process group (a terminal Ctrl-C does not reach
// it; stopping it stops its children too), output split into lines, each line appended to its log
// file, kept in a short tail for failure reports and handed to a callback (the console).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Watchdog } from './watchdog.js';

export interface ChildSpec {
  /** Prefix in the console and in events: `catalog-1`, `catalog-1 sidecar`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES, bad cwd). */
  readonly spawnError?: string;
}

export const describeExit = (e: ChildExit): string =>
  e.spawnError !== undefined
    ? `could not start: ${e.spawnError}`
    : e.signal !== null
      ? `killed by ${e.signal}`
      : `exited with code ${e.code}`;

const TAIL = 20;

export class ManagedChild {
  readonly pid: number | undefined;
  readonly exited: Promise<ChildExit>;
  readonly startedAt = Date.now();
  private readonly proc: ChildProcess;
  private readonly log: WriteStream;
  private readonly tail: string[] = [];
  private done: ChildExit | undefined;

  constructor(
    readonly spec: ChildSpec,
    private readonly watchdog: Watchdog | undefined,
    onLine: (name: string, line: string) => void,
  ) {
    this.log = createWriteStream(spec.logFile, { flags: 'a' });
    this.log.on('error', () => undefined);
    this.proc = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.proc.pid;
    if (this.pid !== undefined) watchdog?.add(this.pid);
    this.log.write(
      `--- ${new Date().toISOString()} started pid ${this.pid ?? '-'}: ${spec.command} ${spec.args.join(' ')}\n`,
    );
    let open = 0;
    const closed: (() => void)[] = [];
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      if (!stream) continue;
      open++;
      const rl = createInterface({ input: stream, crlfDelay: Infinity });
      rl.on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL) this.tail.shift();
        this.log.write(line + '\n');
        onLine(spec.name, line);
      });
      rl.on('close', () => {
        if (--open === 0) for (const c of closed) c();
      });
    }
    const outputClosed = new Promise<void>((r) => (open === 0 ? r() : closed.push(r)));
    this.exited = new Promise<ChildExit>((resolve) => {
      const finish = (e: ChildExit) => {
        if (this.done) return;
        this.done = e;
        // Grandchildren left in the group (e.g. under `sh -c`) go with it.
        if (this.pid !== undefined) {
          try {
            process.kill(-this.pid, 'SIGKILL');
          } catch {
            /* the group is gone */
          }
          this.watchdog?.remove(this.pid);
        }
        this.log.write(`--- ${new Date().toISOString()} ${describeExit(e)}\n`);
        this.log.end();
        resolve(e);
      };
      this.proc.once('error', (err: NodeJS.ErrnoException) => {
        if (this.pid === undefined || err.code === 'ENOENT')
          finish({ code: null, signal: null, spawnError: `${err.code ?? 'error'}: ${err.message}` });
      });
      this.proc.once('exit', (code, signal) => {
        // Give the last output lines a moment to arrive before reporting.
        const t = setTimeout(() => finish({ code, signal }), 200);
        void outputClosed.then(() => {
          clearTimeout(t);
          finish({ code, signal });
        });
      });
    });
  }

  running(): boolean {
    return this.done === undefined && this.pid !== undefined;
  }

  lastLines(n = 10): string[] {
    return this.tail.slice(-n);
  }

  /** Sends `sig` to the child's whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running() || this.pid === undefined) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs: number): Promise<ChildExit> {
    if (!this.running()) return this.exited;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }
}
