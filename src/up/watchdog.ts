// Makes sure no child outlives `trellis up`, even when it is SIGKILLed: a tiny /bin/sh process in its
// own session holds a pipe from us and a list of our children's process groups; when the pipe
// closes (we exited, however) it SIGTERMs the groups still listed, then SIGKILLs them 2 s later.
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
pids=' '
while IFS= read -r l; do
  case "$l" in
    +*) pids="$pids\${l#+} " ;;
    -*) n=' '; for p in $pids; do [ "$p" = "\${l#-}" ] || n="$n$p "; done; pids=$n ;;
  esac
done
[ "$pids" = ' ' ] && exit 0
for p in $pids; do kill -s TERM -- "-$p" 2>/dev/null; done
sleep 2
for p in $pids; do kill -s KILL -- "-$p" 2>/dev/null; done
exit 0
`;

export class Watchdog {
  private readonly proc: ChildProcess;

  constructor() {
    this.proc = spawn('/bin/sh', ['-c', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    this.proc.on('error', () => undefined);
    this.proc.stdin?.on('error', () => undefined);
    this.proc.unref();
    (this.proc.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Watches the process group led by `pid` (children are spawned detached: pgid = pid). */
  add(pid: number): void {
    this.proc.stdin?.write(`+${pid}\n`);
  }

  remove(pid: number): void {
    this.proc.stdin?.write(`-${pid}\n`);
  }

  /** Ends the watch (what is still listed gets the TERM/KILL treatment). */
  close(): void {
    this.proc.stdin?.end();
  }
}
