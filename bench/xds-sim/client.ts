// One simulated proxyless gRPC client on an ADS stream: LDS for the Services it uses, then RDS,
// CDS and EDS as names appear (full lists, as grpc-js sends them), ACKing every response.
import type { AdsClient, AdsClientStream, OutgoingRequest } from '../../src/xds/ads-service.js';
import type { DiscoveryResponse } from '../../src/xds/discovery-codec.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls.js';
import { decodeResource, matchVirtualHost, type VirtualHostInfo } from './xds-names.js';

export const TYPES = [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE] as const;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface ResponseEvent {
  readonly t: number;
  readonly type: string;
  /** Names of resources whose bytes differ from the copy held before (or are new). */
  readonly changed: readonly string[];
  /** Resources resent byte-identical. */
  readonly unchanged: number;
}

export type ResponseObserver = (proxy: SimProxy, ev: ResponseEvent) => void;

interface TypeState {
  names: string[];
  version: string;
  nonce: string;
  readonly bytes: Map<string, Buffer>;
}

export class SimProxy {
  readonly listeners = new Map<string, { rds?: string; inline?: VirtualHostInfo[] }>();
  readonly routes = new Map<string, VirtualHostInfo[]>();
  readonly clusterEds = new Map<string, string | undefined>();
  readonly state = new Map<string, TypeState>(
    TYPES.map((t) => [t, { names: [], version: '', nonce: '', bytes: new Map() }]),
  );
  startedAt = 0;
  completedAt = 0;
  responses = 0;
  /** Wall-clock time of the first response of each type. */
  readonly firstAt = new Map<string, number>();
  errors: string[] = [];
  private call: AdsClientStream | undefined;

  constructor(
    readonly index: number,
    readonly id: string,
    readonly targets: readonly string[],
    private readonly observe: ResponseObserver,
  ) {}

  start(client: AdsClient): void {
    this.startedAt = nowMs();
    const call = client.StreamAggregatedResources();
    this.call = call;
    call.on('data', (res: DiscoveryResponse) => this.onResponse(res));
    call.on('error', (e: Error) => this.errors.push(e.message));
    call.on('end', () => this.errors.push('stream ended by server'));
    const lds = this.st(LISTENER_TYPE);
    lds.names = [...this.targets];
    this.send({
      node: { id: this.id, locality: {}, user_agent_name: 'trellis-bench-sim', user_agent_version: '0' },
      type_url: LISTENER_TYPE,
      resource_names: lds.names,
      version_info: '',
      response_nonce: '',
    });
  }

  stop(): void {
    this.call?.removeAllListeners('end');
    this.call?.removeAllListeners('error');
    this.call?.on('error', () => undefined);
    this.call?.cancel();
  }

  /** The names this proxy subscribes to for a type. */
  subscribed(type: string): readonly string[] {
    return this.st(type).names;
  }

  private st(type: string): TypeState {
    const s = this.state.get(type);
    if (!s) throw new Error(`unknown type ${type}`);
    return s;
  }

  private send(req: OutgoingRequest): void {
    this.call?.write(req);
  }

  private onResponse(res: DiscoveryResponse): void {
    const t = nowMs();
    this.responses++;
    const s = this.state.get(res.type_url);
    if (!s || s.names.length === 0) return; // not subscribed: grpc-js drops it silently
    if (!this.firstAt.has(res.type_url)) this.firstAt.set(res.type_url, t);
    const changed: string[] = [];
    let unchanged = 0;
    const seen = new Set<string>();
    try {
      for (const any of res.resources) {
        const r = decodeResource(res.type_url, any.value);
        if (!s.names.includes(r.name)) continue;
        seen.add(r.name);
        const prev = s.bytes.get(r.name);
        if (prev && prev.equals(any.value)) {
          unchanged++;
          continue;
        }
        changed.push(r.name);
        s.bytes.set(r.name, any.value);
        if (r.kind === 'listener') this.listeners.set(r.name, { rds: r.rds, inline: r.inline });
        else if (r.kind === 'route') this.routes.set(r.name, r.vhosts);
        else if (r.kind === 'cluster') this.clusterEds.set(r.name, r.eds);
      }
    } catch (e) {
      this.errors.push(`decode ${res.type_url}: ${(e as Error).message}`);
    }
    // State of the world for LDS and CDS: a subscribed resource left out is deleted.
    if (res.type_url === LISTENER_TYPE || res.type_url === CLUSTER_TYPE) {
      for (const name of [...s.bytes.keys()]) {
        if (seen.has(name)) continue;
        s.bytes.delete(name);
        this.listeners.delete(name);
        this.clusterEds.delete(name);
        changed.push(name);
      }
    }
    s.version = res.version_info;
    s.nonce = res.nonce;
    this.send({
      type_url: res.type_url,
      version_info: s.version,
      response_nonce: s.nonce,
      resource_names: s.names,
    });
    this.resubscribe();
    if (this.completedAt === 0 && this.complete()) this.completedAt = t;
    this.observe(this, { t, type: res.type_url, changed, unchanged });
  }

  /** Recomputes RDS, CDS and EDS subscriptions from what is held; sends the lists that changed. */
  private resubscribe(): void {
    const rds = new Set<string>();
    const cds = new Set<string>();
    for (const [name, l] of this.listeners) {
      const hosts = l.rds !== undefined ? this.routes.get(l.rds) : l.inline;
      if (l.rds !== undefined) rds.add(l.rds);
      for (const c of (hosts && matchVirtualHost(hosts, name)?.clusters) ?? []) cds.add(c);
    }
    const eds = new Set<string>();
    for (const c of cds) {
      const e = this.clusterEds.get(c);
      if (e !== undefined) eds.add(e);
    }
    this.update(ROUTE_TYPE, rds);
    this.update(CLUSTER_TYPE, cds);
    this.update(ENDPOINT_TYPE, eds);
  }

  private update(type: string, wanted: Set<string>): void {
    const s = this.st(type);
    if (s.names.length === wanted.size && s.names.every((n) => wanted.has(n))) return;
    s.names = [...wanted];
    for (const name of [...s.bytes.keys()]) if (!wanted.has(name)) s.bytes.delete(name);
    this.send({ type_url: type, version_info: s.version, response_nonce: s.nonce, resource_names: s.names });
  }

  /** True when every subscribed resource of every type has arrived. */
  complete(): boolean {
    for (const type of TYPES) {
      const s = this.st(type);
      if (type === LISTENER_TYPE || type === ENDPOINT_TYPE ? s.names.length === 0 : false) return false;
      for (const n of s.names) if (!s.bytes.has(n)) return false;
    }
    return true;
  }
}
