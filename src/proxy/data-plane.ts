// The data plane's contract with the proxy's main (bootstrap, admin, xDS): the main feeds it
// ProxyConfig snapshots; it binds the listeners they name and carries traffic.
import type { ProxyConfig, VirtualHostConfig } from './config/types.js';
import type { IdentityProvider } from './identity/sidecar-identity.js';

export interface DataPlane {
  /** Swaps config atomically: requests that start afterwards use it; in-flight ones keep theirs. (Re)binds listeners as LDS says. */
  apply(config: ProxyConfig): Promise<void>;
  /** Stops accepting, lets in-flight requests finish until the deadline, closes idle keep-alive connections. */
  drain(deadlineMs: number): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
  /** For the admin `/clusters`: per cluster, endpoints with health, LB state, in-flight, pool stats. */
  clustersStatus(): unknown;
  /** Prometheus text exposition of the data plane's metrics (for the admin `/stats`). */
  renderMetrics(): string;
  /** Bound ports by listener name (after apply), e.g. for tests using port 0. */
  boundPorts(): ReadonlyMap<string, number>;
}

export interface DataPlaneOptions {
  /** Node id, shown in error responses (`x-trellis-error` names the sidecar). */
  readonly nodeId: string;
  /** Asks the xDS client for a virtual host not yet known (on-demand discovery). */
  readonly requestVirtualHost: (host: string) => Promise<VirtualHostConfig | undefined>;
  /** The workload identity for mTLS (absent: no certificate; TLS endpoints and STRICT listeners refuse). */
  readonly identity?: IdentityProvider;
}
