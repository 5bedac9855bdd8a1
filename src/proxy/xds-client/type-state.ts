// Per-type subscription and accepted resources, and the pure step that applies one
// DiscoveryResponse: decode + validate each resource, keep the valid ones, report the bad ones.
// The light decoder: the same JSON as xds/any.ts's decodeResource, without protobufjs in the sidecar.
import { decodeResourceLite as decodeResource } from '../../xds/lite/decode.js';
import type { DiscoveryResponse } from '../../xds/discovery-codec.js';
import { CLUSTER_TYPE, LISTENER_TYPE, SHORT_NAMES } from '../../xds/type-urls.js';
import { decoderFor, resourceName } from '../config/decode.js';

export interface Held {
  readonly value: unknown;
  /** The decoded xDS JSON, for config dumps only. */
  readonly json: Record<string, unknown>;
  /** Version of the response that delivered it. */
  readonly version: string;
}

export interface NackInfo {
  readonly type: string;
  readonly version: string;
  readonly nonce: string;
  readonly message: string;
  readonly at: number;
}

export interface TypeState {
  readonly typeUrl: string;
  readonly short: string;
  /** Subscribed to everything (LDS, CDS) in addition to `names`. */
  readonly wildcard: boolean;
  names: Set<string>;
  /** Last accepted version ('' before the first ACK). */
  version: string;
  /** Nonce of the last response on the current stream. */
  nonce: string;
  /** A request was sent on the current stream (an empty list then means "none", not wildcard). */
  sentOnStream: boolean;
  resources: Map<string, Held>;
  lastNack?: NackInfo;
}

export function createTypeState(typeUrl: string, wildcard: boolean): TypeState {
  return {
    typeUrl,
    short: SHORT_NAMES[typeUrl] ?? typeUrl,
    wildcard,
    names: new Set(),
    version: '',
    nonce: '',
    sentOnStream: false,
    resources: new Map(),
  };
}

/** LDS and CDS responses carry the whole set: a resource left out is deleted. */
export const isFullState = (typeUrl: string): boolean =>
  typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE;

export interface ApplyOutcome {
  /** Names added, replaced or removed. */
  readonly changed: readonly string[];
  /** One message per bad resource (`<Kind> <name>: <path>: <reason>`), empty for an ACK. */
  readonly errors: readonly string[];
}

const sameJson = (a: Held | undefined, b: Record<string, unknown>): boolean =>
  a !== undefined && JSON.stringify(a.json) === JSON.stringify(b);

/**
 * Applies a response to `ts.resources` in place. Valid resources are taken even when others are
 * bad (as gRPC does); a bad resource keeps its previously accepted version. For full-state types,
 * resources missing from the response are removed; for the others, only subscribed names are kept.
 */
export function applyResponse(ts: TypeState, res: DiscoveryResponse): ApplyOutcome {
  const decoder = decoderFor(ts.typeUrl);
  const errors: string[] = [];
  const incoming = new Map<string, Held>();
  const bad = new Set<string>();
  res.resources.forEach((any, i) => {
    const fallback = `#${i}`;
    if (any.type_url !== ts.typeUrl) {
      errors.push(`${ts.short} resource ${fallback}: type ${any.type_url} in a ${ts.typeUrl} response`);
      return;
    }
    let json: Record<string, unknown>;
    try {
      json = decodeResource(any);
    } catch (e) {
      errors.push(
        `${ts.short} resource ${fallback}: cannot decode: ${e instanceof Error ? e.message : String(e)}`,
      );
      return;
    }
    const name = resourceName(ts.typeUrl, json, fallback);
    if (incoming.has(name) || bad.has(name)) {
      errors.push(`${ts.short} resource ${name}: appears twice in one response`);
      return;
    }
    const out = decoder?.(json, fallback);
    if (out === undefined || !out.ok) {
      bad.add(name);
      errors.push(out === undefined ? `${ts.short}: unsupported type ${ts.typeUrl}` : out.error.message);
      return;
    }
    const prev = ts.resources.get(name);
    incoming.set(
      name,
      sameJson(prev, json) && prev ? prev : { value: out.value, json, version: res.version_info },
    );
  });
  const changed: string[] = [];
  if (isFullState(ts.typeUrl)) {
    for (const name of [...ts.resources.keys()])
      if (!incoming.has(name) && !bad.has(name)) {
        ts.resources.delete(name);
        changed.push(name);
      }
  }
  for (const [name, held] of incoming) {
    if (!ts.wildcard && !ts.names.has(name)) continue; // not asked for: ignore
    if (ts.resources.get(name) !== held) changed.push(name);
    ts.resources.set(name, held);
  }
  return { changed, errors };
}

/** Drops held resources that are no longer subscribed (non-wildcard types). Returns whether any. */
export function pruneUnsubscribed(ts: TypeState): boolean {
  if (ts.wildcard) return false;
  let any = false;
  for (const name of [...ts.resources.keys()])
    if (!ts.names.has(name)) {
      ts.resources.delete(name);
      any = true;
    }
  return any;
}
