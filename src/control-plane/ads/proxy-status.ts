// What the HTTP API shows about connected (and recently disconnected) proxies: per-type sync state
// (`trellis proxy-status`) and the config last sent to one node (config dump), from stream state.
import { decodeResource } from '../../xds/any.js';
import { SECRET_TYPE, SHORT_NAMES } from '../../xds/type-urls.js';
import type { NackRecord, StreamState, TypeState } from './stream-state.js';

export interface TypeStatus {
  readonly typeUrl: string;
  /** Subscribed names; -1 for a wildcard subscription. */
  readonly subscribed: number;
  readonly wildcard: boolean;
  /** Resources the proxy holds from us. */
  readonly resources: number;
  readonly lastVersionSent: string;
  readonly lastVersionAcked: string;
  /** True when the last response sent has been ACKed. */
  readonly synced: boolean;
  readonly lastNack?: {
    readonly version: string;
    readonly nonce: string;
    readonly message: string;
    readonly at: string;
  };
}

export interface ProxyStatus {
  readonly nodeId: string;
  readonly kind: string;
  readonly namespace: string;
  readonly service?: string;
  /** For gateway nodes: the Gateway (in `namespace`) they serve. */
  readonly gateway?: string;
  readonly peer: string;
  readonly connected: boolean;
  readonly connectedSince: string;
  readonly disconnectedAt?: string;
  readonly streamId: number;
  /** Keyed by short name (LDS, RDS, CDS, EDS, VHDS, SDS) or the type URL for others. */
  readonly types: Readonly<Record<string, TypeStatus>>;
}

export interface ConfigDump {
  readonly nodeId: string;
  readonly connected: boolean;
  /** Keyed by short name: the version last sent and the resources the proxy holds, decoded. */
  readonly types: Readonly<
    Record<string, { readonly version: string; readonly resources: readonly Record<string, unknown>[] }>
  >;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const shortName = (typeUrl: string): string => SHORT_NAMES[typeUrl] ?? typeUrl;

function nackView(n: NackRecord | undefined): TypeStatus['lastNack'] {
  return n ? { version: n.version, nonce: n.nonce, message: n.message, at: iso(n.at) } : undefined;
}

function typeStatus(ts: TypeState): TypeStatus {
  const lastNack = nackView(ts.lastNack);
  return {
    typeUrl: ts.typeUrl,
    subscribed: ts.wildcard ? -1 : ts.names.size,
    wildcard: ts.wildcard,
    resources: ts.sent.size,
    lastVersionSent: ts.version,
    lastVersionAcked: ts.lastAckedVersion,
    synced: ts.version !== '' && ts.version === ts.lastAckedVersion,
    ...(lastNack ? { lastNack } : {}),
  };
}

export function proxyStatus(st: StreamState): ProxyStatus {
  const types: Record<string, TypeStatus> = {};
  for (const ts of st.types.values()) types[shortName(ts.typeUrl)] = typeStatus(ts);
  return {
    nodeId: st.node?.id ?? '',
    kind: st.node?.kind ?? 'unknown',
    namespace: st.node?.namespace ?? '',
    ...(st.node?.service !== undefined ? { service: st.node.service } : {}),
    ...(st.node?.gateway !== undefined ? { gateway: st.node.gateway } : {}),
    peer: st.peer,
    connected: st.disconnectedAt === undefined,
    connectedSince: iso(st.connectedAt),
    ...(st.disconnectedAt !== undefined ? { disconnectedAt: iso(st.disconnectedAt) } : {}),
    streamId: st.id,
    types,
  };
}

export function configDump(st: StreamState): ConfigDump {
  const types: Record<string, { version: string; resources: Record<string, unknown>[] }> = {};
  for (const ts of st.types.values()) {
    const resources = [...ts.sent.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => decodeResource(e.any))
      .map((r) => (ts.typeUrl === SECRET_TYPE ? redactPrivateKey(r) : r));
    types[shortName(ts.typeUrl)] = { version: ts.version, resources };
  }
  return { nodeId: st.node?.id ?? '', connected: st.disconnectedAt === undefined, types };
}

/** An SDS Secret as dumped: the key is never shown (a gateway's HTTPS certificate). */
function redactPrivateKey(r: Record<string, unknown>): Record<string, unknown> {
  const c = r['tls_certificate'];
  if (typeof c !== 'object' || c === null) return r;
  return { ...r, tls_certificate: { ...(c as Record<string, unknown>), private_key: '[redacted]' } };
}

/** Keeps the state of disconnected streams for a while, bounded in count. */
export class RecentlyDisconnected {
  private readonly streams = new Map<number, StreamState>();
  constructor(
    private readonly retentionMs: number,
    private readonly max: number,
  ) {}

  add(st: StreamState): void {
    this.streams.set(st.id, st);
    while (this.streams.size > this.max) {
      const oldest = this.streams.keys().next().value;
      if (oldest === undefined) break;
      this.streams.delete(oldest);
    }
  }

  /** Drops expired entries and those whose node has reconnected; returns the rest. */
  list(now: number, connectedNodeIds: ReadonlySet<string>): StreamState[] {
    const out: StreamState[] = [];
    for (const [id, st] of this.streams) {
      const expired = st.disconnectedAt !== undefined && now - st.disconnectedAt > this.retentionMs;
      if (expired || connectedNodeIds.has(st.node?.id ?? '')) this.streams.delete(id);
      else out.push(st);
    }
    return out;
  }
}
