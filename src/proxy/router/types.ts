// The router's contract: a request view in, a RouteDecision out (pure; see match-route.ts).
import type { RouteConfig, VirtualHostConfig } from '../config/types.js';

/** What the router reads of a request. Built once per request by the connection manager. */
export interface RequestView {
  /** Upper-case method as received (e.g. `GET`). */
  readonly method: string;
  /** Host / :authority as received (may carry a port); lower-cased by the router when matching. */
  readonly authority: string;
  /** origin-form path with query (`/a/b?x=1`), already normalised by the connection manager. */
  readonly path: string;
  /** Flat [name0, value0, name1, value1, ...] with lower-case names (the H1 parser's form). */
  readonly headers: readonly string[];
  /** `http` (default when absent) or `https`: the scheme redirects keep and `:scheme` reads. */
  readonly scheme?: string;
}

export type NoRouteReason = 'no_virtual_host' | 'no_route_match' | 'unknown_cluster';

export type RouteDecision =
  | {
      readonly type: 'forward';
      readonly vhost: VirtualHostConfig;
      readonly route: RouteConfig;
      /** The weighted pick among the route's clusters. */
      readonly cluster: string;
      /** Path to send upstream (after prefix/regex rewrite), with the query. */
      readonly path: string;
      /** Authority to send upstream (after host rewrite). */
      readonly authority: string;
      /** Whole-request timeout (0 = none) and per-attempt timeout (0 = none), in ms. */
      readonly timeoutMs: number;
      readonly backendTimeoutMs: number;
      /** Clusters to mirror this request to (already sampled by their fraction). */
      readonly mirrors: readonly string[];
    }
  | {
      readonly type: 'redirect';
      readonly vhost: VirtualHostConfig;
      readonly route: RouteConfig;
      readonly status: number;
      readonly location: string;
    }
  | {
      readonly type: 'direct_response';
      readonly vhost: VirtualHostConfig;
      readonly route: RouteConfig;
      readonly status: number;
      readonly body: string;
    }
  | { readonly type: 'no_route'; readonly reason: NoRouteReason; readonly detail: string };
