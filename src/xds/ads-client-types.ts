// The shape of an ADS client as the sidecar's xDS client uses it: the part of grpc-js's generated
// client and its ClientDuplexStream it needs. ../proxy/xds-client/ads-wire-client.ts implements it
// on the sidecar's own HTTP/2 layer; tests stand in for it.
import type { ConnectionOptions } from 'node:tls';
import type { OutgoingRequest } from './ads-service.js';
import type { DiscoveryResponse } from './discovery-codec.js';

/** The part of a grpc-js ClientDuplexStream the xDS client uses. */
export interface AdsStreamLike {
  on(event: 'data', cb: (res: DiscoveryResponse) => void): this;
  on(event: 'error', cb: (e: Error) => void): this;
  on(event: 'end', cb: () => void): this;
  write(req: OutgoingRequest): boolean;
  cancel(): void;
  removeAllListeners(event?: string): this;
}

/** The part of a grpc-js AdsClient the xDS client uses. */
export interface AdsClientLike {
  StreamAggregatedResources(): AdsStreamLike;
  close(): void;
}

/** TLS to the control plane for the ADS connection. */
export interface AdsTls {
  /** TLS options for each new connection (read again at every reconnect: the client certificate may change). */
  options(): ConnectionOptions;
  /** Turns a connection error into a readable reason (e.g. "is the bundle this CA's?"). */
  explain?(e: Error): string;
}
