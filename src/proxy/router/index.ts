// The router module: pure per-request route matching and header mutations.
export type { NoRouteReason, RequestView, RouteDecision } from './types.js';
export { matchRoute } from './match-route.js';
export { applyHeaderMutation, applyRequestHeaderMutations, applyResponseHeaderMutations } from './headers.js';
