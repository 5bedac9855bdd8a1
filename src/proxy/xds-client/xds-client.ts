// The sidecar's ADS client: one stream to the control plane, LDS/CDS wildcard, RDS/CDS/EDS names
// derived from what it holds, VHDS on demand; ACK/NACK per response, reconnect with backoff, and
// a new frozen ProxyConfig per change (the data plane swaps a reference).
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { createWireAdsClient } from './ads-wire-client.js';
import type { AdsClient, AdsClientStream, OutgoingRequest } from '../../xds/ads-service.js';
import type { DiscoveryResponse } from '../../xds/discovery-codec.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  PUSH_ORDER,
  ROUTE_TYPE,
  SECRET_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../../xds/type-urls.js';
import { OUTBOUND_LISTENER } from '../config/decode-listener.js';
import { vhdsName } from '../config/node-meta.js';
import type { ProxyConfig, VirtualHostConfig } from '../config/types.js';
import { createBackoff, type Backoff } from './backoff.js';
import { buildConfigDump, type XdsConfigDump } from './config-dump.js';
import { buildSidecarNode, type SidecarIdentity } from './sidecar-node.js';
import {
  buildProxyConfig,
  neededClusterNames,
  neededEndpointNames,
  neededRouteNames,
  neededSecretNames,
} from './snapshot.js';
import {
  applyResponse,
  createTypeState,
  pruneUnsubscribed,
  type NackInfo,
  type TypeState,
} from './type-state.js';
import { VhdsWaiters, type VhostState } from './vhds-waiters.js';

export interface XdsClientOptions {
  /** Control plane xDS address, `host:port` (plaintext for now). */
  readonly target: string;
  readonly node: SidecarIdentity;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Uniform in [0, 1), for backoff jitter. */
  readonly random?: () => number;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long requestVirtualHost waits for an unknown host (default 2000 ms). */
  readonly vhdsTimeoutMs?: number;
  /** Reported as the node's user_agent_version. */
  readonly version?: string;
  /**
   * How to open a client to `target`: by default the light one on the sidecar's own HTTP/2 layer
   * (createWireAdsClient, on the light xDS codec), so the sidecar loads neither @grpc/grpc-js,
   * protobufjs nor node:http2 for it.
   */
  readonly createClient?: (target: string) => AdsClient;
}

export interface XdsClientStatus {
  readonly target: string;
  readonly connected: boolean;
  /** When the current stream delivered its first response (ms since epoch). */
  readonly connectedSince?: number;
  /** Last time a response changed the config. */
  readonly lastUpdate?: number;
  readonly lastNack?: NackInfo;
  readonly nacks: number;
  readonly streams: number;
  /** Delay of the pending reconnect, when one is scheduled. */
  readonly reconnectInMs?: number;
  readonly versions: Readonly<Record<string, string>>;
}

const INVALID_ARGUMENT = 3;

export class XdsClient {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly states = new Map<string, TypeState>();
  private readonly waiters: VhdsWaiters;
  /** On-demand virtual hosts admitted into the config (warm once, or waited for). */
  private readonly admitted = new Set<string>();
  private readonly listeners = new Set<(c: ProxyConfig) => void>();
  private config: ProxyConfig;
  private client: AdsClient | undefined;
  private call: AdsClientStream | undefined;
  private nodeSent = false;
  private gotResponse = false;
  private closed = false;
  private started = false;
  private reconnectTimer: Timer | undefined;
  private reconnectInMs: number | undefined;
  private connectedSince: number | undefined;
  private lastUpdate: number | undefined;
  private lastNack: NackInfo | undefined;
  private nacks = 0;
  private streams = 0;

  constructor(private readonly opts: XdsClientOptions) {
    this.log = opts.logger.child({ component: 'xds-client', target: opts.target });
    this.clock = opts.clock ?? systemClock;
    this.backoff = createBackoff({ random: opts.random ?? Math.random, ...opts.backoff });
    this.waiters = new VhdsWaiters(this.clock, opts.vhdsTimeoutMs ?? 2000);
    for (const t of PUSH_ORDER) {
      if (t === LISTENER_TYPE || t === CLUSTER_TYPE) this.states.set(t, createTypeState(t, true));
      else if (t === ROUTE_TYPE || t === ENDPOINT_TYPE || t === VIRTUAL_HOST_TYPE)
        this.states.set(t, createTypeState(t, false));
    }
    // SDS: subscribed by name once listeners name certificates (a gateway's HTTPS ports).
    this.states.set(SECRET_TYPE, createTypeState(SECRET_TYPE, false));
    this.config = buildProxyConfig(this.states);
  }

  /** Opens the stream (and keeps reopening it until close()). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.connect();
  }

  /** The config in force now (a frozen object; replaced, never mutated). */
  current(): ProxyConfig {
    return this.config;
  }

  /** Calls `cb` with every new config; returns a function that stops the calls. */
  onUpdate(cb: (c: ProxyConfig) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * The outbound virtual host serving `host` (as the app sent it: `reviews`, `reviews:9080`, ...):
   * at once when known, else after subscribing to `trellis_outbound/<host>`, resolved when it
   * arrives or when the control plane answers without it (undefined), at most vhdsTimeoutMs later.
   * Calls for the same host share one subscription.
   */
  requestVirtualHost(host: string): Promise<VirtualHostConfig | undefined> {
    const h = host.toLowerCase();
    const table = this.outboundTableName();
    const known = this.config.routeTables.get(table)?.exactDomains.get(h);
    if (known !== undefined) return Promise.resolve(known);
    const name = vhdsName(table, h);
    const vhds = this.state(VIRTUAL_HOST_TYPE);
    const state = this.vhostState(name);
    if (state !== undefined && state !== 'warming') return Promise.resolve(state);
    if (state === undefined && this.waiters.isSettled(name) && vhds.names.has(name))
      return Promise.resolve(undefined);
    const { promise, created } = this.waiters.wait(name, () => {
      const vh = vhds.resources.get(name)?.value as VirtualHostConfig | undefined;
      if (vh !== undefined && !this.admitted.has(name)) {
        this.admitted.add(name);
        this.publish(true);
      }
      return vh;
    });
    if (created && !vhds.names.has(name)) {
      vhds.names.add(name);
      this.sendSubscription(vhds);
    }
    return promise;
  }

  status(): XdsClientStatus {
    return {
      target: this.opts.target,
      connected: this.connectedSince !== undefined,
      ...(this.connectedSince !== undefined ? { connectedSince: this.connectedSince } : {}),
      ...(this.lastUpdate !== undefined ? { lastUpdate: this.lastUpdate } : {}),
      ...(this.lastNack !== undefined ? { lastNack: this.lastNack } : {}),
      nacks: this.nacks,
      streams: this.streams,
      ...(this.reconnectInMs !== undefined ? { reconnectInMs: this.reconnectInMs } : {}),
      versions: this.config.versions,
    };
  }

  /** What the proxy runs, as xDS JSON per type with versions (for /config_dump). */
  configDump(): XdsConfigDump {
    return buildConfigDump(this.opts.node, this.states, this.status());
  }

  /** Ends the stream and stops reconnecting; pending virtual host requests resolve undefined. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.teardown();
    this.waiters.cancelAll();
  }

  private state(typeUrl: string): TypeState {
    return this.states.get(typeUrl) as TypeState;
  }

  private outboundTableName(): string {
    const l = this.config.listeners.get(OUTBOUND_LISTENER);
    return l?.routeSource.type === 'rds' ? l.routeSource.routeConfigName : OUTBOUND_LISTENER;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.reconnectInMs = undefined;
    if (this.closed) return;
    this.streams++;
    this.client = (this.opts.createClient ?? defaultClient)(this.opts.target);
    const call = this.client.StreamAggregatedResources();
    this.call = call;
    this.nodeSent = false;
    this.gotResponse = false;
    for (const ts of this.states.values()) {
      ts.nonce = '';
      ts.sentOnStream = false;
    }
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      this.onStreamEnd(call, why);
    };
    call.on('data', (res: DiscoveryResponse) => {
      if (this.call === call) this.onResponse(res);
    });
    call.on('error', (e: Error) => end(e.message));
    call.on('end', () => end('stream ended by the control plane'));
    // Re-send every subscription with the last accepted versions (CDS, EDS, LDS, RDS, VHDS).
    for (const t of PUSH_ORDER) {
      const ts = this.states.get(t);
      if (ts && (ts.wildcard || ts.names.size > 0)) this.sendRequest(ts, ts.version, undefined);
    }
    this.log.debug({ stream: this.streams }, 'ADS stream opened');
  }

  private teardown(): void {
    const call = this.call;
    this.call = undefined;
    this.connectedSince = undefined;
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.cancel();
    }
    this.client?.close();
    this.client = undefined;
  }

  private onStreamEnd(call: AdsClientStream, why: string): void {
    if (this.call !== call) return;
    const hadResponse = this.gotResponse;
    this.teardown();
    if (this.closed) return;
    if (hadResponse) this.backoff.reset();
    const delay = this.backoff.next();
    this.reconnectInMs = delay;
    this.log.warn({ reason: why, reconnectInMs: delay }, 'ADS stream lost; keeping the last good config');
    this.reconnectTimer = this.clock.setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref?.();
  }

  private sendRequest(ts: TypeState, version: string, error: string | undefined): void {
    const call = this.call;
    if (!call) return;
    const names = [...ts.names].sort();
    const req: OutgoingRequest = {
      version_info: version,
      resource_names: ts.wildcard ? ['*', ...names] : names,
      type_url: ts.typeUrl,
      response_nonce: ts.nonce,
      ...(this.nodeSent ? {} : { node: buildSidecarNode(this.opts.node, this.opts.version ?? '0.1.0') }),
      ...(error !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: error } } : {}),
    };
    this.nodeSent = true;
    ts.sentOnStream = true;
    call.write(req);
  }

  /** A subscription change: sent unless it would be a first empty request (which means wildcard). */
  private sendSubscription(ts: TypeState): void {
    if (ts.wildcard || ts.names.size > 0 || ts.sentOnStream) this.sendRequest(ts, ts.version, undefined);
  }

  private onResponse(res: DiscoveryResponse): void {
    if (!this.gotResponse) {
      this.gotResponse = true;
      this.connectedSince = this.clock.now();
      this.log.info({ stream: this.streams }, 'connected to the control plane');
    }
    const ts = this.states.get(res.type_url);
    if (ts === undefined) {
      this.log.warn({ type: res.type_url }, 'response for a type the proxy did not ask for');
      return;
    }
    ts.nonce = res.nonce;
    const { changed, errors } = applyResponse(ts, res);
    if (errors.length > 0) {
      const message = errors.join('; ');
      ts.lastNack = {
        type: ts.short,
        version: res.version_info,
        nonce: res.nonce,
        message,
        at: this.clock.now(),
      };
      this.lastNack = ts.lastNack;
      this.nacks++;
      this.log.warn({ type: ts.short, version: res.version_info, message }, 'NACK');
      this.sendRequest(ts, ts.version, message);
    } else {
      ts.version = res.version_info;
      this.sendRequest(ts, ts.version, undefined);
    }
    let dirty = changed.length > 0;
    dirty = this.updateSubscriptions() || dirty;
    if (dirty || errors.length === 0) this.publish(dirty);
    if (ts.typeUrl === VIRTUAL_HOST_TYPE) this.waiters.answered((n) => this.vhostState(n));
    else this.waiters.progress((n) => this.vhostState(n));
  }

  /**
   * Warming, as Envoy does for on-demand config: a discovered virtual host is handed to the data
   * plane only once every cluster it routes to, and the endpoints of those, have arrived, so the
   * first request to a Service never fails for config still in flight.
   */
  private vhostState(name: string): VhostState {
    const vh = this.state(VIRTUAL_HOST_TYPE).resources.get(name)?.value as VirtualHostConfig | undefined;
    if (vh === undefined) return undefined;
    return this.admitted.has(name) ? vh : 'warming';
  }

  /** Admits a virtual host into the config once warm (or, on timeout, as it is); admitted ones stay. */
  private admit = (vh: VirtualHostConfig, warm: boolean): boolean => {
    if (warm) this.admitted.add(vh.name);
    return this.admitted.has(vh.name);
  };

  /** Re-derives RDS, CDS and EDS names from what is held; sends changed ones. Returns if pruned. */
  private updateSubscriptions(): boolean {
    let pruned = false;
    const sync = (typeUrl: string, want: Set<string>): void => {
      const ts = this.state(typeUrl);
      if (want.size === ts.names.size && [...want].every((n) => ts.names.has(n))) return;
      ts.names = want;
      pruned = pruneUnsubscribed(ts) || pruned;
      this.sendSubscription(ts);
    };
    sync(ROUTE_TYPE, neededRouteNames(this.states));
    sync(CLUSTER_TYPE, neededClusterNames(this.states));
    sync(ENDPOINT_TYPE, neededEndpointNames(this.states));
    sync(SECRET_TYPE, neededSecretNames(this.states));
    return pruned;
  }

  /** Builds and emits a new config when something changed (versions alone update in place). */
  private publish(changed: boolean): void {
    const next = buildProxyConfig(this.states, this.admit);
    if (!changed) {
      this.config = next;
      return;
    }
    this.config = next;
    this.lastUpdate = this.clock.now();
    for (const cb of this.listeners) {
      try {
        cb(next);
      } catch (e) {
        this.log.error({ err: e }, 'config update listener threw');
      }
    }
  }
}

/** Creates and starts a sidecar xDS client. */
const defaultClient = (target: string): AdsClient => createWireAdsClient(target) as unknown as AdsClient;

export function createXdsClient(opts: XdsClientOptions): XdsClient {
  const c = new XdsClient(opts);
  c.start();
  return c;
}
