// Per-stream, per-type ADS state and the pure rules deciding what a DiscoveryRequest calls for
// (answer / plain ACK / NACK / stale nonce), as in the grpc-js-xds notes §1.4.
import type { NodeInfo } from '../../translate/node.js';
import type { DiscoveryRequest } from '../../xds/discovery-codec.js';
import type { CacheEntry } from '../snapshot/resource-cache.js';

export interface NackRecord {
  /** Version of the response that was rejected. */
  readonly version: string;
  readonly nonce: string;
  readonly message: string;
  /** Epoch ms. */
  readonly at: number;
}

export interface TypeState {
  readonly typeUrl: string;
  /** Wildcard: the first request had no names (Envoy legacy) or names include '*'. */
  wildcard: boolean;
  /** Opened with an empty list: later empty lists keep the wildcard (as Envoy ACKs them). */
  legacyWildcard: boolean;
  /** Explicit subscribed names ('*' excluded). */
  names: Set<string>;
  /** Subscription the last response covered; undefined until the first response. */
  covered: { readonly wildcard: boolean; readonly names: ReadonlySet<string> } | undefined;
  /** Set when a request must be answered but no snapshot exists yet. */
  pendingAnswer: boolean;
  nonce: string;
  version: string;
  /** Resources last sent (what the client holds from us), by name. */
  sent: Map<string, CacheEntry>;
  /** Cache scopes this stream's resources of this type came from (for cheap diffs). */
  scopes: Set<string>;
  lastAckedVersion: string;
  lastNack: NackRecord | undefined;
  responses: number;
}

export interface StreamState {
  readonly id: number;
  readonly peer: string;
  readonly connectedAt: number;
  disconnectedAt: number | undefined;
  node: NodeInfo | undefined;
  nonceSeq: number;
  readonly types: Map<string, TypeState>;
}

export function newStreamState(id: number, peer: string, now: number): StreamState {
  return {
    id,
    peer,
    connectedAt: now,
    disconnectedAt: undefined,
    node: undefined,
    nonceSeq: 0,
    types: new Map(),
  };
}

function newTypeState(typeUrl: string): TypeState {
  return {
    typeUrl,
    wildcard: false,
    legacyWildcard: false,
    names: new Set(),
    covered: undefined,
    pendingAnswer: false,
    nonce: '',
    version: '',
    sent: new Map(),
    scopes: new Set(),
    lastAckedVersion: '',
    lastNack: undefined,
    responses: 0,
  };
}

export type Verdict =
  /** Send every subscribed resource that exists. */
  | 'answer'
  /** Plain ACK: nothing to send. */
  | 'ack'
  /** NACK recorded; nothing resent until config changes. */
  | 'nack'
  /** Nonce is not our latest: names recorded, not answered. */
  | 'stale';

/** True when the current subscription is exactly what the last response covered. */
export function subscriptionCovered(ts: TypeState): boolean {
  const c = ts.covered;
  if (!c || c.wildcard !== ts.wildcard || c.names.size !== ts.names.size) return false;
  for (const n of ts.names) if (!c.names.has(n)) return false;
  return true;
}

/** True when the stream has nothing of this type subscribed. */
export function subscribedNothing(ts: TypeState): boolean {
  return !ts.wildcard && ts.names.size === 0;
}

/** Applies one request to the stream's state and says what it calls for. */
export function applyRequest(
  st: StreamState,
  req: DiscoveryRequest,
  now: number,
): { verdict: Verdict; ts: TypeState } {
  let ts = st.types.get(req.type_url);
  const first = ts === undefined;
  if (!ts) st.types.set(req.type_url, (ts = newTypeState(req.type_url)));

  // Subscription.
  const names = req.resource_names;
  if (first && names.length === 0) {
    ts.wildcard = true;
    ts.legacyWildcard = true;
    ts.names = new Set();
  } else if (names.includes('*')) {
    ts.wildcard = true;
    ts.names = new Set(names.filter((n) => n !== '*'));
  } else if (names.length === 0 && ts.legacyWildcard) {
    ts.wildcard = true;
  } else {
    ts.wildcard = false;
    ts.legacyWildcard = false;
    ts.names = new Set(names);
  }

  const nack = req.error_detail !== undefined && req.error_detail !== null;
  if (first) {
    if (req.version_info) ts.lastAckedVersion = req.version_info; // reconnect: what it holds
    return { verdict: 'answer', ts };
  }
  const current = req.response_nonce !== '' && req.response_nonce === ts.nonce;
  if (current) {
    if (nack) {
      ts.lastNack = {
        version: ts.version,
        nonce: req.response_nonce,
        message: req.error_detail?.message ?? '',
        at: now,
      };
    } else {
      ts.lastAckedVersion = ts.version;
    }
  }
  if (req.response_nonce !== '' && !current) return { verdict: 'stale', ts };
  if (ts.covered === undefined || !subscriptionCovered(ts)) return { verdict: 'answer', ts };
  return { verdict: nack ? 'nack' : 'ack', ts };
}

/** Records that a response covering the current subscription was sent. */
export function markCovered(ts: TypeState): void {
  ts.covered = { wildcard: ts.wildcard, names: new Set(ts.names) };
}

/** Next nonce for this stream (unique per stream, across types). */
export function nextNonce(st: StreamState): string {
  st.nonceSeq += 1;
  return String(st.nonceSeq);
}

/** Content version of what the client holds for a type: a 64-bit sum of per-resource digests. */
export function versionOf(sent: ReadonlyMap<string, CacheEntry>): string {
  let sum = 0n;
  for (const e of sent.values()) sum += e.digest;
  return BigInt.asUintN(64, sum).toString(16).padStart(16, '0');
}
