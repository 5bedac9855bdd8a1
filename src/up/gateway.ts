// One ingress gateway: `trellis proxy --gateway NAME` (its listeners come from the Gateway resource
// over xDS), restarted with backoff when it exits, ready when its admin /ready says so.
import { failuresAfterCrash, restartDelayMs } from './backoff.js';
import { describeExit, ManagedChild } from './child.js';
import type { ReplicaDeps } from './replica.js';
import { logFileOf } from './replica.js';
import { sidecarReady } from './probes.js';
import type { GatewayStatus, Phase } from './status.js';

export class GatewayRunner {
  readonly id: string;
  private phase: Phase = 'pending';
  private detail: string | undefined;
  private restarts = 0;
  private failures = 0;
  private child: ManagedChild | undefined;
  private adminPort: number | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly stopSignal = new Promise<void>((r) => (this.wake = r));
  private loop: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly namespace: string,
    private urls: readonly string[],
    private readonly deps: ReplicaDeps,
  ) {
    this.id = `gateway-${namespace === 'default' ? name : `${name}.${namespace}`}`;
  }

  setUrls(urls: readonly string[]): void {
    this.urls = urls;
    this.deps.onChange();
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.set('stopping', undefined);
    this.wake?.();
    await this.loop;
  }

  kill(): void {
    this.stopping = true;
    this.wake?.();
    this.child?.signal('SIGKILL');
  }

  logFile(): string {
    return logFileOf(this.deps.logDir, this.id, false);
  }

  status(): GatewayStatus {
    return {
      name: this.name,
      namespace: this.namespace,
      phase: this.phase,
      restarts: this.restarts,
      ...(this.child?.running() && { pid: this.child.pid }),
      urls: this.urls,
      ...(this.detail !== undefined && { detail: this.detail }),
    };
  }

  private set(phase: Phase, detail: string | undefined): void {
    if (this.phase === phase && this.detail === detail) return;
    this.phase = phase;
    this.detail = detail;
    this.deps.onChange();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      void this.stopSignal.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private async run(): Promise<void> {
    const d = this.deps;
    try {
      while (!this.stopping) {
        this.adminPort ??= (await d.ports.take(1))[0]!;
        const child = new ManagedChild(
          {
            name: this.id,
            command: d.node,
            args: [
              d.trellisBin,
              'proxy',
              '--gateway',
              this.name,
              '--namespace',
              this.namespace,
              '--control-plane',
              d.cp.xds,
              '--api',
              d.cp.api,
              '--admin-port',
              String(this.adminPort),
              '--drain-seconds',
              String(d.drainSeconds),
              ...(d.cp.caBundle !== undefined ? ['--ca-bundle', d.cp.caBundle] : []),
              ...(d.tokenFile ? ['--token-file', d.tokenFile(this.namespace, `gateway-${this.name}`)] : []),
            ],
            cwd: process.cwd(),
            env: d.env,
            logFile: this.logFile(),
          },
          d.watchdog,
          () => undefined,
        );
        this.child = child;
        this.set('starting', 'gateway starting');
        d.onEvent(`${this.id} starting: ${this.urls.join(' ')} (admin :${this.adminPort})`);
        let ready = false;
        while (!this.stopping && child.running()) {
          const r = await sidecarReady(this.adminPort);
          if (this.stopping || !child.running()) break;
          if (r.ready && !ready) d.onEvent(`${this.id} ready: ${this.urls.join(' ')}`);
          ready = r.ready;
          this.set(r.ready ? 'ready' : 'starting', r.ready ? undefined : r.reason);
          await Promise.race([this.sleep(ready ? 1000 : 250), child.exited]);
        }
        if (this.stopping) break;
        const e = await child.exited;
        this.failures = failuresAfterCrash(this.failures, Date.now() - child.startedAt, d.policy);
        const delay = restartDelayMs(this.failures, d.policy);
        const why = `gateway ${describeExit(e)}`;
        this.set('crashed', `${why}; restart in ${(delay / 1000).toFixed(1)} s`);
        d.onEvent(
          `${this.id} failed: ${why}; restarting in ${(delay / 1000).toFixed(1)} s`,
          child.lastLines(5).map((l) => `| ${l}`),
        );
        await this.sleep(delay);
        if (!this.stopping) this.restarts++;
      }
    } finally {
      if (this.child?.running()) await this.child.stop((d.drainSeconds + 3) * 1000);
      if (this.adminPort !== undefined) d.ports.release([this.adminPort]);
      this.set('stopped', undefined);
    }
  }
}
