// Starts the simulator processes (pinned to a CPU with taskset when asked) and talks to them:
// a promise per awaited message type, merged results across processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc-stats.js';
import type { ParentMessage, ProxySpec, WindowResult, WorkerMessage } from './sim-protocol.js';

const WORKER = fileURLToPath(new URL('./sim-worker.js', import.meta.url));

type Waiter = { op: string; id?: number; resolve: (m: WorkerMessage) => void };

function matches(m: WorkerMessage, op: string, id: number | undefined): boolean {
  if (m.op !== op) return false;
  const mid =
    m.op === 'window-done' || m.op === 'watching' ? m.id : m.op === 'collected' ? m.result.id : undefined;
  return id === undefined || id === mid;
}

class SimProcess {
  readonly child: ChildProcess;
  private readonly waiters: Waiter[] = [];
  /** Messages that arrived before anyone waited for them. */
  private readonly inbox: WorkerMessage[] = [];
  progress = 0;
  exited = false;

  constructor(cpu: string | undefined) {
    const cmd = cpu !== undefined ? 'taskset' : process.execPath;
    const args = cpu !== undefined ? ['-c', cpu, process.execPath, WORKER] : [WORKER];
    this.child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.child.on('exit', () => {
      this.exited = true;
    });
  }

  private onMessage(m: WorkerMessage): void {
    if (m.op === 'progress') {
      this.progress = m.completed;
      return;
    }
    if (m.op === 'error') {
      process.stderr.write(`simulator error: ${m.message}\n`);
      return;
    }
    const i = this.waiters.findIndex((w) => matches(m, w.op, w.id));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    else this.inbox.push(m);
  }

  /** Resolves with the next message of `op` (and `id`); register before sending the request. */
  next<T extends WorkerMessage['op']>(op: T, id?: number): Promise<Extract<WorkerMessage, { op: T }>> {
    const i = this.inbox.findIndex((m) => matches(m, op, id));
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<WorkerMessage, { op: T }>);
    return new Promise((resolve) =>
      this.waiters.push({ op, id, resolve: resolve as (m: WorkerMessage) => void }),
    );
  }

  send(m: ParentMessage): void {
    if (!this.exited) this.child.send(m);
  }
}

export interface InitialResult {
  readonly startedAt: number[];
  readonly completedAt: number[];
  readonly responses: number;
  readonly firstByType: Record<string, number[]>;
  readonly errors: number;
  readonly sampleErrors: string[];
}

export class SimPool {
  private readonly procs: SimProcess[];

  constructor(count: number, cpu: string | undefined) {
    this.procs = Array.from({ length: count }, () => new SimProcess(cpu));
  }

  get pids(): number[] {
    return this.procs.map((p) => p.child.pid ?? 0);
  }

  async ready(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.next('ready')));
  }

  /** Splits the proxies over the processes and starts their streams. */
  start(target: string, proxies: readonly ProxySpec[], streamsPerChannel: number): void {
    this.procs.forEach((p, i) =>
      p.send({
        op: 'start',
        target,
        streamsPerChannel,
        proxies: proxies.filter((_, j) => j % this.procs.length === i),
      }),
    );
  }

  /** CPU seconds used so far by all simulator processes together. */
  cpuSeconds(): number {
    return this.pids.reduce((a, pid) => {
      try {
        return a + cpuSeconds(pid);
      } catch {
        return a;
      }
    }, 0);
  }

  completed(): number {
    return this.procs.reduce((a, p) => a + p.progress, 0);
  }

  /** Waits until every proxy has its initial config, or `timeoutMs`; then merges the reports. */
  async initial(timeoutMs: number): Promise<InitialResult> {
    const reports = this.procs.map((p) => p.next('initial'));
    const timer = setTimeout(() => this.procs.forEach((p) => p.send({ op: 'report' })), timeoutMs);
    const all = await Promise.all(reports);
    clearTimeout(timer);
    return {
      startedAt: all.flatMap((r) => r.startedAt),
      completedAt: all.flatMap((r) => r.completedAt),
      responses: all.reduce((a, r) => a + r.responses, 0),
      firstByType: Object.fromEntries(
        Object.keys(all[0]?.firstByType ?? {}).map((k) => [k, all.flatMap((r) => r.firstByType[k] ?? [])]),
      ),
      errors: all.reduce((a, r) => a + r.errors, 0),
      sampleErrors: all.flatMap((r) => r.sampleErrors).slice(0, 5),
    };
  }

  /** Opens a change window on every process; resolves with the number of affected proxies. */
  async watch(m: { id: number; listener?: string; clusters?: string[] }): Promise<number> {
    const acks = this.procs.map((p) => p.next('watching', m.id));
    this.procs.forEach((p) => p.send({ op: 'watch', ...m }));
    return (await Promise.all(acks)).reduce((a, r) => a + r.affected, 0);
  }

  /** Promise resolved when every affected proxy of window `id` has the change (or `timeoutMs`). */
  async reached(id: number, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const done = Promise.all(this.procs.map((p) => p.next('window-done', id))).then(() => true as const);
    const out = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return out;
  }

  async collect(id: number): Promise<WindowResult> {
    const replies = this.procs.map((p) => p.next('collected', id));
    this.procs.forEach((p) => p.send({ op: 'collect', id }));
    const all = (await Promise.all(replies)).map((r) => r.result);
    const sum = (f: (r: WindowResult) => number) => all.reduce((a, r) => a + f(r), 0);
    return {
      id,
      type: all.find((r) => r.affected > 0)?.type ?? all[0]?.type ?? '',
      affected: sum((r) => r.affected),
      hits: all.flatMap((r) => r.hits),
      unaffectedProxies: sum((r) => r.unaffectedProxies),
      unaffectedResponses: sum((r) => r.unaffectedResponses),
      affectedExtra: sum((r) => r.affectedExtra),
      redundant: sum((r) => r.redundant),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exited) return resolve();
            const kill = setTimeout(() => p.child.kill('SIGKILL'), 3000);
            p.child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            p.send({ op: 'stop' });
          }),
      ),
    );
  }
}
