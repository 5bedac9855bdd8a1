// One replica of a Workload: its sidecar, then its app, watched together. The sidecar starts first
// and the app once the sidecar's outbound listener is bound (so the app can call upstreams at once);
// the sidecar registers the instance only when the app answers its readiness check. When either
// process exits the other is stopped (the sidecar first, so it deregisters) and both are restarted
// after a capped exponential backoff. A proxyless gRPC Workload's replica runs a `trellis grpc-agent`
// in the sidecar's place: the app starts once the agent wrote its bootstrap, and is ready when its
// gRPC port accepts connections (its XdsServer binds once it has its server Listener; the agent
// registers it then).
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failuresAfterCrash, restartDelayMs, type RestartPolicy } from './backoff.js';
import { describeExit, ManagedChild, type ChildExit } from './child.js';
import {
  appEnv,
  grpcAgentArgs,
  grpcAgentOut,
  proxylessAppEnv,
  replicaId,
  sidecarArgs,
  type ControlPlaneAddress,
  type LaunchTemplate,
  type ReplicaPorts,
} from './launch.js';
import { canBind, type PortAllocator } from './ports.js';
import { sidecarReady, tcpOpen } from './probes.js';
import type { Phase, ReplicaStatus } from './status.js';
import type { Watchdog } from './watchdog.js';

export interface ReplicaDeps {
  readonly ports: PortAllocator;
  readonly watchdog: Watchdog | undefined;
  readonly cp: ControlPlaneAddress;
  /** The node binary and bin/trellis.js, to run sidecars. */
  readonly node: string;
  readonly trellisBin: string;
  readonly logDir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly policy: RestartPolicy;
  /** Sidecar drain deadline (seconds). */
  readonly drainSeconds: number;
  /** How long a sidecar may take to bind its outbound listener. */
  readonly sidecarStartTimeoutMs: number;
  readonly onLine: (name: string, line: string) => void;
  readonly onEvent: (message: string, detail?: readonly string[]) => void;
  readonly onChange: () => void;
  /** The bootstrap-token file for a workload identity (namespace, service account), if the mesh has a CA. */
  readonly tokenFile?: (namespace: string, serviceAccount: string) => string;
  /** Where proxyless replicas' grpc-agents keep their files (default <logDir>/../grpc-agent). */
  readonly grpcAgentDir?: string;
  /** Whether the control plane holds this instance id (a proxyless replica is ready once it does). */
  readonly registered?: (instanceId: string) => boolean;
}

/** Why a run ended. */
type RunEnd =
  { readonly stopped: true } | { readonly stopped: false; readonly why: string; readonly lines: string[] };

export const logFileOf = (logDir: string, id: string, sidecar: boolean): string =>
  join(logDir, `${id}${sidecar ? '.sidecar' : ''}.log`);

export class Replica {
  readonly id: string;
  private phase: Phase = 'pending';
  private detail: string | undefined;
  private restarts = 0;
  private failures = 0;
  private portsHeld: ReplicaPorts | undefined;
  private sidecar: ManagedChild | undefined;
  private app: ManagedChild | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly stopSignal: Promise<void>;
  private loop: Promise<void> | undefined;

  constructor(
    readonly template: LaunchTemplate,
    readonly index: number,
    private readonly deps: ReplicaDeps,
    /** 1 for a replica started fresh; one more than the replica it replaces in a rolling update. */
    readonly generation = 1,
  ) {
    this.id = replicaId(template.namespace, template.name, index);
    this.stopSignal = new Promise<void>((r) => (this.wake = r));
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Where the replica is in its life (ready = its sidecar is registered and the app passes its check). */
  get currentPhase(): Phase {
    return this.phase;
  }

  /** Stops for good: the sidecar first (it deregisters and drains), then the app. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.set('stopping', undefined);
      this.wake?.();
    }
    await this.loop;
    if (this.phase !== 'stopped') this.set('stopped', undefined);
  }

  /** Force: SIGKILL both processes now (used on a second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    this.wake?.();
    this.sidecar?.signal('SIGKILL');
    this.app?.signal('SIGKILL');
  }

  status(): ReplicaStatus {
    const p = this.portsHeld;
    return {
      id: this.id,
      workload: this.template.name,
      namespace: this.template.namespace,
      index: this.index,
      phase: this.phase,
      restarts: this.restarts,
      ...(this.app?.running() && { appPid: this.app.pid }),
      ...(this.sidecar?.running() && { sidecarPid: this.sidecar.pid }),
      ...(p && { appPort: p.app, inboundPort: p.inbound, outboundPort: p.outbound, adminPort: p.admin }),
      ...(this.detail !== undefined && { detail: this.detail }),
    };
  }

  /** Log files and pids, for the state file. */
  files(): { app: string; sidecar: string } {
    return {
      app: logFileOf(this.deps.logDir, this.id, false),
      sidecar: logFileOf(this.deps.logDir, this.id, true),
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
    try {
      while (!this.stopping) {
        const startedAt = Date.now();
        const end = await this.runOnce();
        if (end.stopped || this.stopping) break;
        this.failures = failuresAfterCrash(this.failures, Date.now() - startedAt, this.deps.policy);
        const delay = restartDelayMs(this.failures, this.deps.policy);
        const secs = (delay / 1000).toFixed(1);
        this.set('crashed', `${end.why}; restart in ${secs} s`);
        this.deps.onEvent(
          `${this.id} failed: ${end.why}; restarting in ${secs} s`,
          end.lines.map((l) => `| ${l}`),
        );
        await this.sleep(delay);
        if (!this.stopping) this.restarts++;
      }
    } finally {
      await this.teardown();
      if (this.portsHeld) this.deps.ports.release(portList(this.portsHeld));
      this.portsHeld = undefined;
      this.set('stopped', undefined);
    }
  }

  /** Stops whatever runs: the sidecar first so the instance leaves the mesh, then the app. */
  private async teardown(): Promise<void> {
    const grace = (this.deps.drainSeconds + 3) * 1000;
    if (this.sidecar?.running()) await this.sidecar.stop(grace);
    if (this.app?.running()) await this.app.stop(5000);
    // A proxyless replica's key files go with it (a sidecar keeps its key in memory only).
    if (this.agentOut !== undefined)
      await rm(this.agentOut, { recursive: true, force: true }).catch(() => undefined);
  }

  private agentOut: string | undefined;

  private async ports(): Promise<ReplicaPorts | string> {
    const t = this.template;
    const held = this.portsHeld;
    if (held && held.upstreams.length === t.upstreams.length) {
      const free = await Promise.all(portList(held).map((p) => canBind(p)));
      if (free.every(Boolean)) return held;
      this.deps.ports.release(portList(held));
      this.portsHeld = undefined;
    }
    if (t.fixedPort !== undefined && !(await canBind(t.fixedPort)))
      return `port ${t.fixedPort} (spec.port) is in use on 127.0.0.1`;
    const n = 3 + t.upstreams.length + (t.fixedPort === undefined ? 1 : 0);
    const got = await this.deps.ports.take(n);
    let app: number;
    if (t.fixedPort === undefined) app = got.shift()!;
    else {
      app = t.fixedPort;
      this.deps.ports.hold(app);
    }
    const [inbound, outbound, admin, ...upstreams] = got as [number, number, number, ...number[]];
    this.portsHeld = { app, inbound, outbound, admin, upstreams };
    return this.portsHeld;
  }

  private async runOnce(): Promise<RunEnd> {
    const t = this.template;
    const d = this.deps;
    this.sidecar = undefined;
    this.app = undefined;
    this.set('starting', 'allocating ports');
    const ports = await this.ports();
    if (typeof ports === 'string') return { stopped: false, why: ports, lines: [] };
    if (this.stopping) return { stopped: true };
    const cwdOk = await stat(t.cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!cwdOk) return { stopped: false, why: `working directory ${t.cwd} does not exist`, lines: [] };
    if (t.proxyless === true) return this.runProxylessOnce(ports);

    this.set('starting', 'sidecar starting');
    d.onEvent(
      `${this.id} starting: sidecar (in :${ports.inbound} out :${ports.outbound}), then \`${showCommand(t.command)}\` on :${ports.app} in ${t.cwd}`,
    );
    const sidecar = new ManagedChild(
      {
        name: `${this.id} sidecar`,
        command: d.node,
        args: sidecarArgs(
          t,
          this.index,
          ports,
          d.cp,
          d.trellisBin,
          d.drainSeconds,
          d.tokenFile?.(t.namespace, t.service),
          this.generation > 1 ? `${this.id}.g${this.generation}` : undefined,
        ),
        cwd: t.cwd,
        env: d.env,
        logFile: logFileOf(d.logDir, this.id, true),
      },
      d.watchdog,
      () => undefined, // sidecar logs go to its file only (trellis logs --sidecar)
    );
    this.sidecar = sidecar;
    const sidecarEnd = (e: ChildExit): RunEnd => ({
      stopped: false,
      why: `sidecar ${describeExit(e)}`,
      lines: sidecar.lastLines(5),
    });

    // 1. The sidecar binds its listeners once the control plane sent its config.
    const deadline = Date.now() + d.sidecarStartTimeoutMs;
    for (;;) {
      if (this.stopping) return { stopped: true };
      if (!sidecar.running()) return sidecarEnd(await sidecar.exited);
      if (await tcpOpen(ports.outbound, 300)) break;
      if (Date.now() > deadline) {
        await sidecar.stop(2000);
        return {
          stopped: false,
          why: `sidecar did not bind its outbound listener :${ports.outbound} within ${d.sidecarStartTimeoutMs / 1000} s`,
          lines: sidecar.lastLines(5),
        };
      }
      await Promise.race([this.sleep(100), sidecar.exited]);
    }

    // 2. The app.
    this.set(
      'starting',
      `app starting; waiting for ${t.readyPath ? `GET ${t.readyPath}` : 'a TCP connect'} on :${ports.app}`,
    );
    const [command, ...args] = t.command as [string, ...string[]];
    const app = new ManagedChild(
      {
        name: this.id,
        command,
        args,
        cwd: t.cwd,
        env: appEnv(t, this.index, ports, d.env),
        logFile: logFileOf(d.logDir, this.id, false),
      },
      d.watchdog,
      d.onLine,
    );
    this.app = app;

    // 3. Watch both; readiness as the sidecar sees it (registered = ready).
    return this.watch(app, sidecar, ports, () => sidecarReady(ports.admin));
  }

  /** A proxyless gRPC replica: its grpc-agent, then the app with the agent's bootstrap. */
  private async runProxylessOnce(ports: ReplicaPorts): Promise<RunEnd> {
    const t = this.template;
    const d = this.deps;
    const tokenFile = d.tokenFile?.(t.namespace, t.service);
    if (tokenFile === undefined || d.cp.plaintextXds === undefined)
      return {
        stopped: false,
        why: 'a proxyless Workload needs the mesh CA and the plaintext xDS listener',
        lines: [],
      };
    const nodeId = this.generation > 1 ? `${this.id}.g${this.generation}` : this.id;
    const out = grpcAgentOut(d.grpcAgentDir ?? join(d.logDir, '..', 'grpc-agent'), nodeId);
    const bootstrap = join(out, 'bootstrap.json');
    await rm(bootstrap, { force: true }); // wait for this run's
    this.agentOut = out;
    this.set('starting', 'grpc-agent starting');
    d.onEvent(
      `${this.id} starting: grpc-agent (${out}), then \`${showCommand(t.command)}\` (proxyless gRPC) on :${ports.app} in ${t.cwd}`,
    );
    const agent = new ManagedChild(
      {
        name: `${this.id} grpc-agent`,
        command: d.node,
        args: grpcAgentArgs(t, ports, d.cp, d.trellisBin, out, tokenFile, nodeId),
        cwd: t.cwd,
        env: d.env,
        logFile: logFileOf(d.logDir, this.id, true),
      },
      d.watchdog,
      () => undefined, // its logs go to the sidecar log file (trellis logs --sidecar)
    );
    this.sidecar = agent;

    // 1. The agent writes the bootstrap once it has the first certificate.
    const deadline = Date.now() + d.sidecarStartTimeoutMs;
    for (;;) {
      if (this.stopping) return { stopped: true };
      if (!agent.running())
        return {
          stopped: false,
          why: `grpc-agent ${describeExit(await agent.exited)}`,
          lines: agent.lastLines(5),
        };
      if ((await stat(bootstrap).catch(() => undefined)) !== undefined) break;
      if (Date.now() > deadline) {
        await agent.stop(2000);
        return {
          stopped: false,
          why: `grpc-agent wrote no bootstrap within ${d.sidecarStartTimeoutMs / 1000} s`,
          lines: agent.lastLines(5),
        };
      }
      await Promise.race([this.sleep(100), agent.exited]);
    }

    // 2. The app, with GRPC_XDS_BOOTSTRAP.
    this.set('starting', `app starting; waiting for its gRPC server on :${ports.app}`);
    const [command, ...args] = t.command as [string, ...string[]];
    const app = new ManagedChild(
      {
        name: this.id,
        command,
        args,
        cwd: t.cwd,
        env: proxylessAppEnv(t, this.index, ports, d.env, bootstrap),
        logFile: logFileOf(d.logDir, this.id, false),
      },
      d.watchdog,
      d.onLine,
    );
    this.app = app;

    // 3. Ready when the gRPC port accepts (the XdsServer serves) and the agent registered it.
    return this.watch(app, agent, ports, async () => {
      if (!(await tcpOpen(ports.app, 500)))
        return { ready: false, reason: `the gRPC server does not accept connections on :${ports.app} yet` };
      if (d.registered !== undefined && !d.registered(nodeId))
        return { ready: false, reason: 'serving; waiting for the grpc-agent to register it' };
      return { ready: true, reason: 'serving and registered' };
    });
  }

  /** Watches the app and its sidecar (or grpc-agent) until one exits or the replica stops. */
  private async watch(
    app: ManagedChild,
    sidecar: ManagedChild,
    ports: ReplicaPorts,
    readiness: () => Promise<{ ready: boolean; reason: string }>,
  ): Promise<RunEnd> {
    const t = this.template;
    const d = this.deps;
    let wasReady = false;
    const exit = Promise.race([
      app.exited.then((e) => ({ who: 'app' as const, e })),
      sidecar.exited.then((e) => ({ who: 'sidecar' as const, e })),
    ]);
    let ended: { who: 'app' | 'sidecar'; e: ChildExit } | undefined;
    void exit.then((x) => (ended = x));
    while (!this.stopping && ended === undefined) {
      const r = await readiness();
      if (this.stopping || ended !== undefined) break;
      if (r.ready) {
        if (!wasReady) {
          wasReady = true;
          d.onEvent(
            t.proxyless === true
              ? `${this.id} ready (proxyless gRPC app pid ${app.pid} on :${ports.app}, grpc-agent pid ${sidecar.pid})`
              : `${this.id} ready (app pid ${app.pid} on :${ports.app}, sidecar pid ${sidecar.pid} in :${ports.inbound} out :${ports.outbound})`,
          );
        }
        this.set('ready', undefined);
      } else {
        if (wasReady) {
          wasReady = false;
          d.onEvent(`${this.id} not ready: ${r.reason}`);
        }
        this.set(this.phase === 'ready' || this.phase === 'not ready' ? 'not ready' : 'starting', r.reason);
      }
      await Promise.race([this.sleep(wasReady ? t.periodMs : 250), exit]);
    }
    if (this.stopping) return { stopped: true };
    const { who, e } = ended ?? (await exit);
    const lines = who === 'app' ? app.lastLines(8) : sidecar.lastLines(5);
    // The other one goes too: the sidecar first, so the instance deregisters before the port closes.
    this.set('stopping', `${who} ${describeExit(e)}`);
    await this.teardown();
    return {
      stopped: false,
      why: `${who === 'app' ? 'app' : 'sidecar'} ${describeExit(e)}`,
      lines,
    };
  }
}

const portList = (p: ReplicaPorts): number[] => [p.app, p.inbound, p.outbound, p.admin, ...p.upstreams];

/** argv as a person would type it; `/bin/sh -c X` shows as X. */
const showCommand = (argv: readonly string[]): string =>
  argv.length === 3 && argv[0] === '/bin/sh' && argv[1] === '-c'
    ? argv[2]!
    : argv.map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
