// Keeps the running processes equal to the Workloads and Gateways in the store: replicas started,
// stopped and restarted per the reconciliation plan, one gateway process per Gateway; shuts down in
// reverse dependency order (gateways, then callers before the Services they call).
import type { GatewayResource, Resource, ServiceResource, WorkloadResource } from '../api/types.js';
import { GatewayRunner } from './gateway.js';
import { buildLaunchTemplate, type LaunchTemplate } from './launch.js';
import { planGateways, planWorkloads, type DesiredWorkload, type RunningWorkload } from './plan.js';
import { Replica, type ReplicaDeps } from './replica.js';
import type { GatewayStatus, ReplicaStatus } from './status.js';

const replicaKey = (key: string, index: number): string => `${key}#${index}`;

/** How long a rolling update waits for each new replica to become ready before it pauses. */
export const ROLLOUT_READY_TIMEOUT_MS = 120_000;

export const gatewayUrls = (g: GatewayResource): string[] =>
  g.spec.listeners.flatMap((l) =>
    g.spec.addresses.map((a) => `http://${a.includes(':') ? `[${a}]` : a}:${l.port}`),
  );

/**
 * Waves of Workload keys to stop, callers first: a Workload is stopped once every Workload calling
 * its Service (through `upstreams`) has been. What a cycle leaves over goes in a last wave.
 */
export function stopWaves(templates: readonly LaunchTemplate[]): string[][] {
  const callersOf = new Map<string, Set<string>>();
  for (const t of templates) callersOf.set(t.key, new Set());
  for (const caller of templates)
    for (const u of caller.upstreams)
      for (const callee of templates)
        if (callee.key !== caller.key && callee.namespace === u.namespace && callee.service === u.service)
          callersOf.get(callee.key)!.add(caller.key);
  const left = new Set(templates.map((t) => t.key));
  const waves: string[][] = [];
  while (left.size > 0) {
    const wave = [...left].filter((k) => [...callersOf.get(k)!].every((c) => !left.has(c))).sort();
    if (wave.length === 0) {
      waves.push([...left].sort());
      break;
    }
    waves.push(wave);
    for (const k of wave) left.delete(k);
  }
  return waves;
}

export class Supervisor {
  private readonly replicas = new Map<string, Replica>();
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly gateways = new Map<string, GatewayRunner>();
  private readonly blocked = new Map<string, string>();
  /** Every replica not yet stopped, including ones being stopped. */
  private readonly alive = new Set<Replica>();
  /** Old-version replicas still serving while their replacement starts, by replica key. */
  private readonly retiring = new Map<string, Replica>();
  /** Rollout generation per Workload key: a newer change supersedes a rollout in progress. */
  private readonly rollouts = new Map<string, number>();
  /**
   * The fingerprint a rollout in progress (or paused) moves a Workload to. While it is the desired
   * one, replicas still on the old version are the rollout's business, not a new change.
   */
  private readonly rolloutTarget = new Map<string, string>();
  private closing = false;

  constructor(
    private readonly deps: ReplicaDeps,
    /** Relative workingDirs of Workloads applied later are resolved against this. */
    private readonly baseDir: string,
  ) {}

  /** Why proxyless gRPC Workloads cannot run in this `trellis up`, if they cannot. */
  private proxylessProblem(): string | undefined {
    if (this.deps.tokenFile === undefined)
      return 'a proxyless gRPC Workload needs the mesh CA (workload identities for its grpc-agent)';
    if (this.deps.cp.plaintextXds === undefined)
      return "a proxyless gRPC Workload needs the control plane's plaintext xDS listener (gRPC cannot reach xDS over TLS): restart trellis up with the Workload in the mesh file, or with --plaintext-xds-port N (0 = any)";
    return undefined;
  }

  /** Brings the processes in line with `resources` (everything in the store). */
  reconcile(resources: readonly Resource[]): void {
    if (this.closing) return;
    const services = new Map<string, ServiceResource>();
    for (const r of resources)
      if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
    const templates = new Map<string, LaunchTemplate>();
    for (const r of resources)
      if (r.kind === 'Workload') {
        const t = buildLaunchTemplate(r as WorkloadResource, services, this.baseDir, this.proxylessProblem());
        templates.set(t.key, t);
      }

    const desired = new Map<string, DesiredWorkload>();
    for (const t of templates.values()) {
      desired.set(t.key, {
        replicas: t.replicas,
        fingerprint: t.fingerprint,
        blocked: t.problem !== undefined,
      });
      if (t.problem !== undefined && this.blocked.get(t.key) !== t.problem)
        this.deps.onEvent(`workload ${t.key} cannot start replicas: ${t.problem}`);
    }
    this.blocked.clear();
    for (const t of templates.values()) if (t.problem !== undefined) this.blocked.set(t.key, t.problem);

    const running = new Map<string, RunningWorkload>();
    for (const r of this.replicas.values()) {
      const have = running.get(r.template.key);
      const target = this.rolloutTarget.get(r.template.key);
      running.set(r.template.key, {
        fingerprint:
          target !== undefined && target === desired.get(r.template.key)?.fingerprint
            ? target
            : r.template.fingerprint,
        indexes: [...(have?.indexes ?? []), r.index],
      });
    }
    const rolling = new Map<string, number[]>();
    for (const a of planWorkloads(desired, running)) {
      const rk = replicaKey(a.key, a.index);
      if (a.type === 'stop') {
        const r = this.replicas.get(rk);
        if (!r) continue;
        this.replicas.delete(rk);
        this.deps.onEvent(`${r.id} stopping (${a.reason})`);
        this.stopReplica(rk, r);
      } else if (a.type === 'replace') {
        rolling.set(a.key, [...(rolling.get(a.key) ?? []), a.index]);
      } else {
        const t = templates.get(a.key)!;
        const r = new Replica(t, a.index, this.deps);
        this.replicas.set(rk, r);
        this.alive.add(r);
        void (this.stopping.get(rk) ?? Promise.resolve()).then(() => {
          if (!this.closing && this.replicas.get(rk) === r) r.start();
        });
      }
    }
    // Old replicas that no longer have a place (scaled down or removed while a rollout ran).
    for (const [rk, old] of this.retiring) {
      const want = desired.get(old.template.key);
      if (want === undefined || old.index > want.replicas) {
        this.retiring.delete(rk);
        this.deps.onEvent(`${old.id} (old version) stopping (${want ? 'scaled down' : 'removed'})`);
        this.stopReplica(rk, old);
      }
    }
    for (const [key, indexes] of rolling) void this.roll(key, indexes, templates.get(key)!);

    const gws = new Map<string, GatewayResource>();
    for (const r of resources)
      if (r.kind === 'Gateway') gws.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
    const g = planGateways(new Set(gws.keys()), new Set(this.gateways.keys()));
    for (const key of g.stop) {
      const runner = this.gateways.get(key)!;
      this.gateways.delete(key);
      void runner.stop();
    }
    for (const key of g.start) {
      const res = gws.get(key)!;
      const runner = new GatewayRunner(
        res.metadata.name,
        res.metadata.namespace,
        gatewayUrls(res),
        this.deps,
      );
      this.gateways.set(key, runner);
      runner.start();
    }
    for (const [key, runner] of this.gateways) runner.setUrls(gatewayUrls(gws.get(key)!));
    this.deps.onChange();
  }

  /**
   * A rolling update of a changed Workload: one index at a time, a replica of the new version is
   * started beside the old one, and the old one is stopped (its sidecar deregisters and drains
   * first) only once the new one is ready, so the Service keeps its capacity throughout. A
   * Workload with a fixed port cannot run two copies at once: each replica is stopped, then
   * started again, still one at a time. A replacement that is not ready within the rollout
   * deadline pauses the rollout: the old replica keeps serving (as a Deployment's
   * progressDeadline does), until the next change of the Workload.
   */
  private async roll(key: string, indexes: readonly number[], t: LaunchTemplate): Promise<void> {
    const gen = (this.rollouts.get(key) ?? 0) + 1;
    this.rollouts.set(key, gen);
    this.rolloutTarget.set(key, t.fingerprint);
    const current = (): boolean => !this.closing && this.rollouts.get(key) === gen;
    for (const index of indexes) {
      if (!current()) return;
      const rk = replicaKey(key, index);
      const prev = this.replicas.get(rk);
      const older = this.retiring.get(rk);
      if (prev && prev.template.fingerprint === t.fingerprint && !older) continue;
      // Its own instance id beside the one it replaces (and beside an older one still serving).
      const generation = Math.max(prev?.generation ?? 0, older?.generation ?? 0) + 1;
      const next = new Replica(t, index, this.deps, generation);
      this.alive.add(next);
      this.replicas.set(rk, next);
      if (prev && older) {
        // An earlier rollout's replacement that never became ready: the older one still serves.
        this.deps.onEvent(`${prev.id} stopping (superseded by a newer change before it was ready)`);
        void this.stopReplica(rk, prev);
      } else if (prev) this.retiring.set(rk, prev);
      const old = this.retiring.get(rk);
      if (old && t.fixedPort !== undefined) {
        this.retiring.delete(rk);
        this.deps.onEvent(`${old.id} stopping (changed; port ${t.fixedPort} is fixed, so no overlap)`);
        await this.stopReplica(rk, old);
        if (!current() || this.replicas.get(rk) !== next) return;
        this.deps.onEvent(`${next.id} starting (new version)`);
        next.start();
        await this.untilReady(next, () => current() && this.replicas.get(rk) === next);
        continue;
      }
      this.deps.onEvent(
        old
          ? `${next.id} starting (new version; the old one serves until it is ready)`
          : `${next.id} starting (new version)`,
      );
      next.start();
      const ready = await this.untilReady(next, () => current() && this.replicas.get(rk) === next);
      if (this.retiring.get(rk) !== old || old === undefined) continue;
      if (!ready) {
        if (current() && this.replicas.get(rk) === next)
          this.deps.onEvent(
            `rollout of ${key} paused: ${next.id} is not ready after ${ROLLOUT_READY_TIMEOUT_MS / 1000} s; the old replica keeps serving (fix the Workload and apply it again)`,
          );
        return;
      }
      this.retiring.delete(rk);
      this.deps.onEvent(`${old.id} (old version) stopping (replaced)`);
      await this.stopReplica(rk, old);
    }
    if (!current()) return;
    this.rolloutTarget.delete(key);
    this.deps.onEvent(`rollout of ${key} complete`);
  }

  /** Waits until `r` is ready (true), or the deadline passes or `still()` turns false (false). */
  private async untilReady(r: Replica, still: () => boolean): Promise<boolean> {
    const deadline = Date.now() + ROLLOUT_READY_TIMEOUT_MS;
    while (still() && Date.now() < deadline) {
      if (r.currentPhase === 'ready') return true;
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  private stopReplica(rk: string, r: Replica): Promise<void> {
    const p = r.stop().finally(() => {
      this.alive.delete(r);
      if (this.stopping.get(rk) === p) this.stopping.delete(rk);
    });
    this.stopping.set(rk, p);
    return p;
  }

  replicaStatus(): ReplicaStatus[] {
    const out = [...this.replicas.values()].map((r) => r.status());
    for (const r of this.retiring.values()) {
      const st = r.status();
      out.push({
        ...st,
        detail: `old version, serving until its replacement is ready${st.detail ? `; ${st.detail}` : ''}`,
      });
    }
    for (const [key, problem] of this.blocked)
      if (![...this.replicas.values()].some((r) => r.template.key === key))
        out.push({
          id: key.startsWith('default/') ? key.slice(8) : key,
          workload: key,
          namespace: '',
          index: 0,
          phase: 'blocked',
          restarts: 0,
          detail: problem,
        });
    return out.sort((a, b) => a.workload.localeCompare(b.workload) || a.index - b.index);
  }

  gatewayStatus(): GatewayStatus[] {
    return [...this.gateways.values()].map((g) => g.status());
  }

  /** Log files of the running processes, for the state file. */
  files(): {
    replicas: {
      id: string;
      workload: string;
      namespace: string;
      index: number;
      app: string;
      sidecar: string;
    }[];
    gateways: { id: string; log: string }[];
  } {
    return {
      replicas: [...this.replicas.values()].map((r) => ({
        id: r.id,
        workload: r.template.name,
        namespace: r.template.namespace,
        index: r.index,
        ...r.files(),
      })),
      gateways: [...this.gateways.values()].map((g) => ({ id: g.id, log: g.logFile() })),
    };
  }

  /** Graceful: gateways first, then Workloads callers-first, each sidecar before its app. */
  async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.gateways.values()].map((g) => g.stop()));
    const byKey = new Map<string, [string, Replica][]>();
    for (const e of [...this.replicas, ...this.retiring]) {
      const list = byKey.get(e[1].template.key) ?? [];
      list.push(e);
      byKey.set(e[1].template.key, list);
    }
    const templates = [...byKey.values()].map((l) => l[0]![1].template);
    for (const wave of stopWaves(templates))
      await Promise.all(wave.flatMap((k) => (byKey.get(k) ?? []).map(([rk, r]) => this.stopReplica(rk, r))));
    await Promise.all([...this.stopping.values()]);
  }

  /** Force: SIGKILL everything now. */
  kill(): void {
    this.closing = true;
    for (const g of this.gateways.values()) g.kill();
    for (const r of this.alive) r.kill();
  }
}
