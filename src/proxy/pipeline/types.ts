// What a request exchange sees of the data plane (shared context) and of its downstream connection.
import type { Socket } from 'node:net';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { ListenerConfig, ProxyConfig, VirtualHostConfig } from '../config/types.js';
import type { DirectionStats } from '../telemetry/data-plane-metrics.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { WriteBatch } from './write-batch.js';
import type { MeshTls } from '../tls/mesh-tls.js';

/** Built once per data plane. */
export interface PlaneContext {
  readonly nodeId: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly clusters: ClusterManager;
  /** The config current now (a request reads it once, when its head arrives). */
  current(): ProxyConfig;
  readonly requestVirtualHost: (host: string) => Promise<VirtualHostConfig | undefined>;
  /** A fresh request id (for `x-request-id` when the client sent none). */
  requestId(): string;
  /** Mesh mTLS (contexts from the workload identity); absent: listeners with tls refuse TLS. */
  readonly mtls?: MeshTls;
}

/** Per listener; swapped fields are read once per request. */
export interface ListenerContext {
  readonly plane: PlaneContext;
  readonly name: string;
  /** The listener config this listener was last applied with (fallback when LDS removed it). */
  config: ListenerConfig;
  readonly stats: DirectionStats;
  /** Outbound listeners face the app (outside the mesh edge): mesh-internal headers are stripped. */
  readonly stripInternal: boolean;
}

/** What a request timer calls (an object, not a closure: nothing allocated per request). */
export interface RequestTimerOwner {
  onRequestTimeout(): void;
}

/** The downstream connection as a request exchange drives it. */
export interface Downstream {
  readonly socket: Socket;
  readonly listener: ListenerContext;
  /** Response bytes collected during one upstream read, written with one write(). */
  readonly out: WriteBatch;
  /**
   * One reusable timer per connection for the request in progress (refresh() instead of a new
   * timer); calls `owner.onRequestTimeout()` when it fires.
   */
  armRequestTimer(ms: number, owner: RequestTimerOwner): void;
  disarmRequestTimer(): void;
  /** True once the data plane drains: responses carry `Connection: close`. */
  readonly draining: boolean;
  /** Stop delivering request body (upstream not ready / backpressure). */
  holdRequest(): void;
  /** Deliver request body again. */
  releaseRequest(): void;
  /** The response is complete (or failed); `keepAlive` false closes the connection. */
  exchangeDone(keepAlive: boolean): void;
  /** Hand the socket over to a tunnel: returns bytes read past the upgrade head (may be null). */
  detachForTunnel(): Buffer | null;
}
