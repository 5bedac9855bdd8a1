// grpc-js service definition and client constructor for the ADS stream, built on our codecs
// (no proto-loader at run time). grpc-js is required on first use only: the sidecar uses the light
// client on its own HTTP/2 layer (../proxy/xds-client/ads-wire-client.ts) and does not load it.
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import { ADS_METHOD_PATH, ADS_SERVICE_NAME } from './ads-service-path.js';
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
} from './discovery-codec.js';

export { ADS_METHOD_PATH, ADS_SERVICE_NAME };

/** What the server writes: a response object, or one already encoded with encodeDiscoveryResponse. */
export type OutgoingResponse = DiscoveryResponse | Buffer;
/** What a client writes: a request object (node metadata as plain JSON). */
export type OutgoingRequest = Partial<DiscoveryRequest>;

const serializeResponse = (r: OutgoingResponse): Buffer =>
  Buffer.isBuffer(r) ? r : encodeDiscoveryResponse(r);

export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (r: OutgoingRequest): Buffer => encodeDiscoveryRequest(r),
    requestDeserialize: (b: Buffer): DiscoveryRequest => decodeDiscoveryRequest(b),
    responseSerialize: serializeResponse,
    responseDeserialize: (b: Buffer): DiscoveryResponse => decodeDiscoveryResponse(b),
    originalName: 'streamAggregatedResources',
  },
} as const satisfies grpc.ServiceDefinition;

/** The server-side stream type of a StreamAggregatedResources call. */
export type AdsServerStream = grpc.ServerDuplexStream<DiscoveryRequest, OutgoingResponse>;
/** The client-side stream type of a StreamAggregatedResources call. */
export type AdsClientStream = grpc.ClientDuplexStream<OutgoingRequest, DiscoveryResponse>;

export interface AdsClient extends grpc.Client {
  StreamAggregatedResources(metadata?: grpc.Metadata, options?: grpc.CallOptions): AdsClientStream;
}

let grpcJs: typeof grpc | undefined;
let AdsClientCtor: grpc.ServiceClientConstructor | undefined;

/** Creates an ADS client for `target` (e.g. `127.0.0.1:18000`); insecure credentials by default. */
export function createAdsClient(
  target: string,
  credentials?: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): AdsClient {
  grpcJs ??= createRequire(import.meta.url)('@grpc/grpc-js') as typeof grpc;
  AdsClientCtor ??= grpcJs.makeGenericClientConstructor(adsServiceDefinition, ADS_SERVICE_NAME);
  const creds = credentials ?? grpcJs.credentials.createInsecure();
  return new AdsClientCtor(target, creds, options) as unknown as AdsClient;
}
