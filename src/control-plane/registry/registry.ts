// The instance registry: workloads (usually their sidecars) register, heartbeat and deregister;
// an instance whose heartbeats stop expires after its TTL. All timing uses the injected Clock.
import { randomUUID } from 'node:crypto';
import { serviceKey, type InstanceConfig } from '../../api/mesh-snapshot.js';
import { deepFreeze } from '../../common/deep-freeze.js';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { validateRegistration, type RegisterInput, type TtlBounds } from './registry-validate.js';

export type { RegisterInput } from './registry-validate.js';

export interface RegistryChange {
  readonly type: 'registered' | 'updated' | 'deregistered' | 'expired';
  readonly instance: InstanceConfig;
  /** The registry version after this change. */
  readonly version: number;
}

export type RegistryListener = (change: RegistryChange) => void;

export interface RegistryOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** TTL of a registration that names none; default 15 s. */
  readonly defaultTtlSeconds?: number;
  /** Bounds a registration's ttlSeconds must be within; default 1..3600 s. */
  readonly minTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
  /** Generates ids for registrations without one; default a random UUID. */
  readonly newId?: () => string;
}

interface Lease {
  instance: InstanceConfig;
  ttlMs: number;
  expiresAt: number;
  timer: Timer | undefined;
}

export class Registry {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ttl: TtlBounds;
  private readonly newId: () => string;
  private readonly leases = new Map<string, Lease>();
  private readonly listeners = new Set<RegistryListener>();
  private ver = 0;
  private closed = false;
  private cache: { version: number; byService: ReadonlyMap<string, readonly InstanceConfig[]> } | undefined;

  constructor(opts: RegistryOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger();
    this.ttl = {
      defaultSeconds: opts.defaultTtlSeconds ?? 15,
      minSeconds: opts.minTtlSeconds ?? 1,
      maxSeconds: opts.maxTtlSeconds ?? 3600,
    };
    this.newId = opts.newId ?? (() => randomUUID());
  }

  /**
   * Registers an instance, or updates the one with `input.id`; either way its lease restarts.
   * Throws TrellisError BAD_REQUEST naming each invalid field.
   */
  register(input: RegisterInput): InstanceConfig {
    const { ttlMs, id: givenId, ...fields } = validateRegistration(input, this.ttl);
    const id = givenId ?? this.newId();
    const instance: InstanceConfig = deepFreeze({ id, ...fields });
    const expiresAt = this.clock.now() + ttlMs;
    const lease = this.leases.get(id);
    if (lease) {
      const changed = !sameInstance(lease.instance, instance);
      lease.instance = instance;
      lease.ttlMs = ttlMs;
      this.extend(lease, expiresAt);
      if (changed) this.emit('updated', instance);
      return instance;
    }
    const fresh: Lease = { instance, ttlMs, expiresAt, timer: undefined };
    this.leases.set(id, fresh);
    this.arm(fresh);
    this.emit('registered', instance);
    this.logger.debug(
      { id, service: serviceKey(instance.namespace, instance.service) },
      'instance registered',
    );
    return instance;
  }

  /** Extends an instance's lease; false when the id is unknown (expired, or the registry restarted). */
  heartbeat(id: string): boolean {
    const lease = this.leases.get(id);
    if (!lease) return false;
    this.extend(lease, this.clock.now() + lease.ttlMs);
    return true;
  }

  /** Removes an instance; false when it was not registered. */
  deregister(id: string): boolean {
    return this.remove(id, 'deregistered');
  }

  get(id: string): InstanceConfig | undefined {
    return this.leases.get(id)?.instance;
  }

  /** Every registered instance, ordered by id. */
  list(): readonly InstanceConfig[] {
    return [...this.leases.values()].map((l) => l.instance).sort(byId);
  }

  /** Registered instances grouped by their Service's `namespace/name`; the same object until a change. */
  byService(): ReadonlyMap<string, readonly InstanceConfig[]> {
    if (this.cache?.version === this.ver) return this.cache.byService;
    const groups = new Map<string, InstanceConfig[]>();
    for (const inst of this.list()) {
      const k = serviceKey(inst.namespace, inst.service);
      const g = groups.get(k);
      if (g) g.push(inst);
      else groups.set(k, [inst]);
    }
    for (const g of groups.values()) Object.freeze(g);
    this.cache = { version: this.ver, byService: groups };
    return groups;
  }

  /** Increases with every change to the set of instances or to one of them (not with heartbeats). */
  version(): number {
    return this.ver;
  }

  onChange(listener: RegistryListener): () => void {
    const entry: RegistryListener = (c) => listener(c);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Stops every expiry timer; registrations are kept but no longer expire. */
  close(): void {
    this.closed = true;
    for (const lease of this.leases.values()) this.disarm(lease);
  }

  private extend(lease: Lease, expiresAt: number): void {
    // A later expiry needs no new timer: the armed one re-arms itself when it fires early.
    const sooner = expiresAt < lease.expiresAt;
    lease.expiresAt = expiresAt;
    if (sooner || !lease.timer) {
      this.disarm(lease);
      this.arm(lease);
    }
  }

  private arm(lease: Lease): void {
    if (this.closed) return;
    const id = lease.instance.id;
    lease.timer = this.clock.setTimeout(() => this.onTimer(id, lease), lease.expiresAt - this.clock.now());
    lease.timer.unref?.();
  }

  private disarm(lease: Lease): void {
    if (lease.timer) this.clock.clearTimeout(lease.timer);
    lease.timer = undefined;
  }

  private onTimer(id: string, lease: Lease): void {
    if (this.leases.get(id) !== lease) return;
    lease.timer = undefined;
    if (this.clock.now() < lease.expiresAt) {
      this.arm(lease);
      return;
    }
    this.logger.info(
      { id, service: serviceKey(lease.instance.namespace, lease.instance.service), ttlMs: lease.ttlMs },
      'instance expired: no heartbeat within its TTL',
    );
    this.remove(id, 'expired');
  }

  private remove(id: string, type: 'deregistered' | 'expired'): boolean {
    const lease = this.leases.get(id);
    if (!lease) return false;
    this.disarm(lease);
    this.leases.delete(id);
    this.emit(type, lease.instance);
    return true;
  }

  private emit(type: RegistryChange['type'], instance: InstanceConfig): void {
    this.ver += 1;
    const change: RegistryChange = Object.freeze({ type, instance, version: this.ver });
    for (const l of [...this.listeners]) {
      if (!this.listeners.has(l)) continue;
      try {
        l(change);
      } catch (e) {
        this.logger.error({ err: errorMessage(e), type, id: instance.id }, 'registry listener threw');
      }
    }
  }
}

const byId = (a: InstanceConfig, b: InstanceConfig): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function sameInstance(a: InstanceConfig, b: InstanceConfig): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, canonical(obj[k])]),
  );
}

export const createRegistry = (opts: RegistryOptions = {}): Registry => new Registry(opts);
