// The sidecar's xDS client: ADS stream, ACK/NACK, reconnect with backoff, ProxyConfig snapshots.
export { XdsClient, createXdsClient, type XdsClientOptions, type XdsClientStatus } from './xds-client.js';
export { createBackoff, type Backoff, type BackoffOptions } from './backoff.js';
export { buildSidecarNode, type SidecarIdentity } from './sidecar-node.js';
export type { XdsConfigDump } from './config-dump.js';
export type { NackInfo } from './type-state.js';
