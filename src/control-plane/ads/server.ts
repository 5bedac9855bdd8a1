// The ADS server (state of the world over one bidi gRPC stream per proxy): answers requests by
// the rules in stream-state.ts, pushes debounced snapshot changes, and tracks proxy status.
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { MeshSnapshot } from '../../api/mesh-snapshot.js';
import { type Clock, systemClock } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseNode as realParseNode, translate as realTranslate } from '../../translate/index.js';
import type { NodeInfo, XdsNodeInput } from '../../translate/node.js';
import { type AdsServerStream, adsServiceDefinition } from '../../xds/ads-service.js';
import type { DiscoveryRequest } from '../../xds/discovery-codec.js';
import { ENDPOINT_TYPE, PUSH_ORDER, SHORT_NAMES } from '../../xds/type-urls.js';
import { DEFAULT_DEBOUNCE, type DebounceOptions, Debouncer } from '../snapshot/debounce.js';
import {
  type CacheScopeFn,
  ResourceCache,
  type TranslateFn,
  defaultCacheScope,
} from '../snapshot/resource-cache.js';
import {
  type ConfigDump,
  type ProxyStatus,
  RecentlyDisconnected,
  configDump,
  proxyStatus,
} from './proxy-status.js';
import { type Conn, answer, pushChanges } from './responder.js';
import { applyRequest, newStreamState } from './stream-state.js';

export interface AdsServerOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Defaults to translate() from src/translate. */
  readonly translate?: TranslateFn;
  /** Defaults to parseNode() from src/translate. */
  readonly parseNode?: (node: XdsNodeInput | undefined) => NodeInfo;
  /** Which nodes share translated resources; see defaultCacheScope. */
  readonly cacheScope?: CacheScopeFn;
  readonly debounce?: Partial<DebounceOptions>;
  /** How long a disconnected proxy stays in listProxies (default 10 min), and how many at most (1000). */
  readonly statusRetentionMs?: number;
  readonly maxRetainedProxies?: number;
  /** Sent as DiscoveryResponse.control_plane.identifier. */
  readonly controlPlaneId?: string;
  /**
   * Checks a stream's connection when the stream opens, before its first request (e.g. "no client
   * certificate"): a reason string refuses the stream with UNAUTHENTICATED.
   */
  readonly authenticatePeer?: (peer: string, via: AdsTransport) => string | undefined;
  /**
   * Checks a node against its connection (e.g. the SPIFFE ID of its client certificate, by the
   * gRPC peer address): a reason string refuses the stream with PERMISSION_DENIED.
   */
  readonly authorizeNode?: (peer: string, node: NodeInfo, via: AdsTransport) => string | undefined;
  /** How the connection reached the control plane ('tls' with the peer's SPIFFE ID, or plaintext), for logs. */
  readonly describePeer?: (peer: string, via: AdsTransport) => Record<string, unknown>;
}

/**
 * How a stream reached the ADS server: `listener` = its own plaintext port (listen) or a server it
 * was added to (addTo); `injected` = a connection handed over with injectConnection (the secure
 * port). The two never share a grpc-js server, so a peer address is never taken for the other's.
 */
export type AdsTransport = 'listener' | 'injected';

/** A stream with the way it came. */
type ServerConn = Conn & { readonly via: AdsTransport };

export interface AdsStats {
  readonly streams: number;
  readonly snapshots: number;
  readonly lastApplyMs: number;
  readonly responses: number;
  readonly cache: {
    readonly scopes: number;
    readonly entries: number;
    readonly translateCalls: number;
    readonly encodes: number;
  };
}

export interface AdsServer {
  /** Registers the ADS service on a grpc-js server the caller owns. */
  addTo(server: grpc.Server): void;
  /** Starts an own grpc-js server (plaintext); resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  /**
   * Serves HTTP/2 connections the caller accepted (e.g. TLS sockets that negotiated h2 on the
   * control plane's secure port) with the same service; closed with the server.
   */
  injectConnection(socket: Duplex): void;
  /** Offers a new snapshot; applied after the debounce (the first one at once). */
  setSnapshot(snapshot: MeshSnapshot, opts?: { readonly endpointsOnly?: boolean }): void;
  /** Applies a pending snapshot now (tests, shutdown). */
  flush(): void;
  listProxies(): ProxyStatus[];
  configDump(nodeId: string): ConfigDump | undefined;
  stats(): AdsStats;
  /** Ends every stream (status OK, so clients reconnect elsewhere) and stops an own server. */
  close(): Promise<void>;
}

export function createAdsServer(opts: AdsServerOptions): AdsServer {
  const log = opts.logger.child({ component: 'ads' });
  const clock = opts.clock ?? systemClock;
  const translate = opts.translate ?? realTranslate;
  const parseNode = opts.parseNode ?? realParseNode;
  const scope = opts.cacheScope ?? defaultCacheScope;
  const controlPlane = opts.controlPlaneId ? { identifier: opts.controlPlaneId } : undefined;
  const conns = new Map<number, ServerConn>();
  const recent = new RecentlyDisconnected(
    opts.statusRetentionMs ?? 10 * 60_000,
    opts.maxRetainedProxies ?? 1000,
  );
  let active: ResourceCache | undefined;
  let streamSeq = 0;
  let snapshots = 0;
  let lastApplyMs = 0;
  let responses = 0;
  let translateCalls = 0;
  let encodes = 0;
  let ownServer: grpc.Server | undefined;
  let injectServer: grpc.Server | undefined;
  let injector: ReturnType<grpc.Server['createConnectionInjector']> | undefined;
  let closed = false;
  // One grpc-js server for the plaintext port, another for the connections the secure port hands
  // over: each stream knows which way it came (AdsTransport).
  const newGrpcServer = (impl: grpc.UntypedServiceImplementation): grpc.Server => {
    const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1 });
    server.addService(adsServiceDefinition, impl);
    return server;
  };
  const ownGrpcServer = (): grpc.Server => (ownServer ??= newGrpcServer(implementation));

  const ctx = {
    log,
    controlPlane,
    cache: (): ResourceCache | undefined => active,
    onResponse: (): void => {
      responses++;
    },
  };

  const debouncer = new Debouncer<MeshSnapshot>(
    clock,
    { ...DEFAULT_DEBOUNCE, ...opts.debounce },
    (s, epOnly) => applySnapshot(s, epOnly),
  );

  function applySnapshot(snapshot: MeshSnapshot, endpointsOnly: boolean): void {
    const start = performance.now();
    const prev = active;
    const reuse =
      endpointsOnly && prev
        ? [...new Set([...PUSH_ORDER, ...Object.keys(SHORT_NAMES)])].filter((t) => t !== ENDPOINT_TYPE)
        : [];
    const next = new ResourceCache({
      snapshot,
      translate,
      scope,
      logger: log,
      ...(prev ? { previous: prev } : {}),
      reuseTypes: reuse,
    });
    if (prev) {
      translateCalls += prev.translateCalls;
      encodes += prev.encodes;
    }
    active = next;
    snapshots++;
    let pushed = 0;
    for (const conn of conns.values()) {
      if (!conn.st.node || conn.refused) continue;
      try {
        pushed += pushChanges(ctx, conn, next, prev === undefined);
      } catch (e) {
        log.error({ err: errorMessage(e), stream: conn.st.id }, 'push failed');
      }
    }
    next.dropPrevious();
    lastApplyMs = performance.now() - start;
    log.info(
      {
        configVersion: snapshot.configVersion,
        endpointsVersion: snapshot.endpointsVersion,
        endpointsOnly,
        streams: conns.size,
        responses: pushed,
        ms: Math.round(lastApplyMs * 10) / 10,
      },
      'snapshot applied',
    );
  }

  function onRequest(conn: ServerConn, req: DiscoveryRequest): void {
    const st = conn.st;
    if (!st.node) {
      // The node comes in the first request only.
      const n = req.node;
      st.node = parseNode(
        n ? { id: n.id ?? '', cluster: n.cluster ?? '', metadata: n.metadata ?? {} } : undefined,
      );
      conn.log = log.child({ stream: st.id, node: st.node.id });
      const refused = opts.authorizeNode?.(st.peer, st.node, conn.via);
      if (refused !== undefined) {
        conn.refused = true;
        conn.log.warn(
          { peer: st.peer, ...opts.describePeer?.(st.peer, conn.via), reason: refused },
          'proxy refused',
        );
        conn.call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refused });
        return;
      }
      conn.log.info(
        {
          peer: st.peer,
          kind: st.node.kind,
          namespace: st.node.namespace,
          ...opts.describePeer?.(st.peer, conn.via),
        },
        'proxy connected',
      );
    }
    if (conn.refused) return;
    if (!req.type_url) {
      conn.log.warn('request without type_url ignored');
      return;
    }
    const { verdict, ts } = applyRequest(st, req, clock.now());
    const type = SHORT_NAMES[req.type_url] ?? req.type_url;
    switch (verdict) {
      case 'answer':
        answer(ctx, conn, ts);
        break;
      case 'nack':
        conn.log.warn({ type, nonce: req.response_nonce, message: req.error_detail?.message }, 'NACK');
        break;
      case 'stale':
        conn.log.debug(
          { type, nonce: req.response_nonce, names: ts.names.size },
          'stale nonce; names recorded',
        );
        break;
      case 'ack':
        conn.log.debug({ type, version: ts.lastAckedVersion }, 'ACK');
        break;
    }
    if (verdict === 'answer' && req.error_detail) {
      conn.log.warn({ type, nonce: req.response_nonce, message: req.error_detail.message }, 'NACK');
    }
  }

  function handleCall(call: AdsServerStream, via: AdsTransport): void {
    if (closed) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
      return;
    }
    const peer = call.getPeer();
    const unauthenticated = opts.authenticatePeer?.(peer, via);
    if (unauthenticated !== undefined) {
      log.warn({ peer, ...opts.describePeer?.(peer, via), reason: unauthenticated }, 'ADS stream refused');
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: unauthenticated });
      return;
    }
    const st = newStreamState(++streamSeq, peer, clock.now());
    const conn: ServerConn = { st, call, via, log: log.child({ stream: st.id }) };
    conns.set(st.id, conn);
    let done = false;
    const cleanup = (why: string): void => {
      if (done) return;
      done = true;
      conns.delete(st.id);
      st.disconnectedAt = clock.now();
      if (st.node) {
        recent.add(st);
        conn.log.info({ why }, 'proxy disconnected');
      }
    };
    call.on('data', (req: DiscoveryRequest) => {
      try {
        onRequest(conn, req);
      } catch (e) {
        conn.log.error({ err: errorMessage(e) }, 'request handling failed');
      }
    });
    call.on('end', () => {
      cleanup('client half-closed');
      call.end();
    });
    call.on('error', (e: Error) => cleanup(`error: ${errorMessage(e)}`));
    call.on('cancelled', () => cleanup('cancelled'));
    call.on('close', () => cleanup('closed'));
  }

  const implementation = {
    StreamAggregatedResources: (call: AdsServerStream) => handleCall(call, 'listener'),
  } satisfies grpc.UntypedServiceImplementation;
  const injectedImplementation = {
    StreamAggregatedResources: (call: AdsServerStream) => handleCall(call, 'injected'),
  } satisfies grpc.UntypedServiceImplementation;

  return {
    addTo(server) {
      server.addService(adsServiceDefinition, implementation);
    },
    async listen(host, port) {
      const server = ownGrpcServer();
      const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      log.info({ host, port: bound }, 'ADS listening');
      return bound;
    },
    injectConnection(socket) {
      if (closed) {
        socket.destroy();
        return;
      }
      injectServer ??= newGrpcServer(injectedImplementation);
      injector ??= injectServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      injector.injectConnection(socket);
    },
    setSnapshot(snapshot, o = {}) {
      if (closed) return;
      if (!active && !debouncer.hasPending()) applySnapshot(snapshot, false);
      else debouncer.offer(snapshot, o.endpointsOnly ?? false);
    },
    flush() {
      debouncer.flush();
    },
    listProxies() {
      const live = [...conns.values()].map((c) => c.st).filter((st) => st.node);
      const ids = new Set(live.map((st) => st.node?.id ?? ''));
      return [...live, ...recent.list(clock.now(), ids)].map(proxyStatus);
    },
    configDump(nodeId) {
      let best: Conn['st'] | undefined;
      for (const c of conns.values())
        if (c.st.node?.id === nodeId && (!best || c.st.id > best.id)) best = c.st;
      if (!best) {
        const gone = recent.list(clock.now(), new Set()).filter((st) => st.node?.id === nodeId);
        best = gone[gone.length - 1];
      }
      return best ? configDump(best) : undefined;
    },
    stats() {
      const size = active?.size() ?? { scopes: 0, entries: 0 };
      return {
        streams: conns.size,
        snapshots,
        lastApplyMs,
        responses,
        cache: {
          ...size,
          translateCalls: translateCalls + (active?.translateCalls ?? 0),
          encodes: encodes + (active?.encodes ?? 0),
        },
      };
    },
    async close() {
      closed = true;
      debouncer.cancel();
      for (const c of [...conns.values()]) {
        try {
          c.call.end();
        } catch {
          // already gone
        }
      }
      const servers = [ownServer, injectServer].filter((s): s is grpc.Server => s !== undefined);
      ownServer = undefined;
      injectServer = undefined;
      injector?.destroy();
      injector = undefined;
      for (const server of servers) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2000);
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}
