// Builds and writes DiscoveryResponses for one stream: full answers to (changed) subscriptions and
// pushes after a snapshot change (LDS/CDS: the whole subscribed set; others: only what changed).
import type { Logger } from '../../common/logger.js';
import type { AdsServerStream } from '../../xds/ads-service.js';
import { CLUSTER_TYPE, LISTENER_TYPE, PUSH_ORDER } from '../../xds/type-urls.js';
import type { CacheEntry, ResourceCache } from '../snapshot/resource-cache.js';
import {
  type StreamState,
  type TypeState,
  markCovered,
  nextNonce,
  subscribedNothing,
  versionOf,
} from './stream-state.js';

export interface Conn {
  readonly st: StreamState;
  readonly call: AdsServerStream;
  log: Logger;
  /** The node was refused (authorizeNode): its requests are ignored until the stream ends. */
  refused?: boolean;
}

export interface ResponderContext {
  readonly log: Logger;
  readonly controlPlane: { readonly identifier: string } | undefined;
  cache(): ResourceCache | undefined;
  onResponse(): void;
}

/** LDS and CDS: every response must carry every subscribed resource (a missing one is deleted). */
export const isFullStateType = (typeUrl: string): boolean =>
  typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE;

/** Every subscribed resource that exists now, by name. */
function currentSet(cache: ResourceCache, conn: Conn, ts: TypeState): Map<string, CacheEntry> {
  const node = conn.st.node;
  if (!node) return new Map();
  if (!ts.wildcard) return cache.resolve(ts.typeUrl, node, ts.names, ts.scopes);
  const all = cache.resolve(ts.typeUrl, node, '*', ts.scopes);
  if (ts.names.size > 0)
    for (const [n, e] of cache.resolve(ts.typeUrl, node, ts.names, ts.scopes)) all.set(n, e);
  return all;
}

function write(ctx: ResponderContext, conn: Conn, ts: TypeState, resources: readonly CacheEntry[]): void {
  ts.nonce = nextNonce(conn.st);
  ts.version = versionOf(ts.sent);
  ts.responses++;
  ctx.onResponse();
  conn.call.write({
    version_info: ts.version,
    type_url: ts.typeUrl,
    nonce: ts.nonce,
    resources: resources.map((e) => e.any),
    ...(ctx.controlPlane ? { control_plane: ctx.controlPlane } : {}),
  });
}

/** Answers a new or changed subscription with every subscribed resource that exists. */
export function answer(ctx: ResponderContext, conn: Conn, ts: TypeState): void {
  const cache = ctx.cache();
  if (!cache || !conn.st.node) {
    ts.pendingAnswer = true;
    return;
  }
  ts.pendingAnswer = false;
  if (subscribedNothing(ts)) {
    // Unsubscribed from everything of this type: nothing to say, the client holds nothing.
    ts.sent = new Map();
    markCovered(ts);
    return;
  }
  const entries = currentSet(cache, conn, ts);
  if (isFullStateType(ts.typeUrl) || ts.wildcard) {
    ts.sent = entries;
  } else {
    for (const n of [...ts.sent.keys()]) if (!ts.names.has(n)) ts.sent.delete(n);
    for (const [n, e] of entries) ts.sent.set(n, e);
  }
  write(ctx, conn, ts, [...entries.values()]);
  markCovered(ts);
  conn.log.debug(
    { type: ts.typeUrl, resources: entries.size, version: ts.version, nonce: ts.nonce },
    'answered',
  );
}

/** Pushes what changed in `cache` to one stream, in PUSH_ORDER. Returns responses written. */
export function pushChanges(
  ctx: ResponderContext,
  conn: Conn,
  cache: ResourceCache,
  fullCompare: boolean,
): number {
  let written = 0;
  const one = (ts: TypeState): void => {
    const before = ts.responses;
    if (ts.pendingAnswer || ts.covered === undefined) answer(ctx, conn, ts);
    else if (!subscribedNothing(ts)) pushType(ctx, conn, cache, ts, fullCompare);
    written += ts.responses - before;
  };
  let seen = 0;
  for (const typeUrl of PUSH_ORDER) {
    const ts = conn.st.types.get(typeUrl);
    if (ts) {
      seen++;
      one(ts);
    }
  }
  if (seen < conn.st.types.size) {
    for (const ts of conn.st.types.values()) if (!PUSH_ORDER.includes(ts.typeUrl as never)) one(ts);
  }
  return written;
}

/** Names whose content may have changed for this stream, or undefined to compare everything. */
function candidates(cache: ResourceCache, conn: Conn, ts: TypeState): string[] | undefined {
  const node = conn.st.node;
  if (!node || ts.wildcard) return undefined;
  const out: string[] = [];
  for (const scope of ts.scopes) {
    const changed = cache.changedSince(ts.typeUrl, scope, node);
    if (changed === undefined) return undefined;
    if (changed.size < ts.names.size) {
      for (const n of changed) if (ts.names.has(n)) out.push(n);
    } else {
      for (const n of ts.names) if (changed.has(n)) out.push(n);
    }
  }
  return out;
}

function pushType(
  ctx: ResponderContext,
  conn: Conn,
  cache: ResourceCache,
  ts: TypeState,
  fullCompare: boolean,
): void {
  const node = conn.st.node;
  if (!node) return;
  const cands = fullCompare ? undefined : candidates(cache, conn, ts);
  if (cands !== undefined && cands.length === 0) return;

  const changed: CacheEntry[] = [];
  const removed: string[] = [];
  let now: Map<string, CacheEntry> | undefined;
  if (cands === undefined) {
    now = currentSet(cache, conn, ts);
    for (const [n, e] of now) if (ts.sent.get(n)?.digest !== e.digest) changed.push(e);
    for (const n of ts.sent.keys()) if (!now.has(n)) removed.push(n);
  } else {
    const got = cache.resolve(ts.typeUrl, node, cands, ts.scopes);
    for (const n of cands) {
      const e = got.get(n);
      const old = ts.sent.get(n);
      if (e && e.digest !== old?.digest) changed.push(e);
      else if (!e && old) removed.push(n);
    }
  }
  if (changed.length === 0 && removed.length === 0) return;

  if (isFullStateType(ts.typeUrl) || ts.wildcard) {
    now ??= currentSet(cache, conn, ts);
    ts.sent = now;
    write(ctx, conn, ts, [...now.values()]);
    markCovered(ts);
  } else {
    for (const n of removed) ts.sent.delete(n);
    for (const e of changed) ts.sent.set(e.name, e);
    // Removed RDS/EDS resources need no response: omitting them means nothing to the client.
    if (changed.length > 0) write(ctx, conn, ts, changed);
  }
  conn.log.debug({ type: ts.typeUrl, version: ts.version }, 'pushed');
}
