// The proxy's config model: types, per-resource decoders from xDS JSON, regexes, node metadata.
export * from './types.js';
export * from './decode.js';
export { buildRouteTable } from './decode-route.js';
export { compileRegex, type CompiledRegex } from './regex.js';
export { findVirtualHost } from './find-virtual-host.js';
export { GATEWAY_KIND, NODE_META, SIDECAR_KIND, vhdsName } from './node-meta.js';
export { OUTBOUND_LISTENER, INBOUND_LISTENER } from './decode-listener.js';
