// grpc-js service definition and client constructor for the ADS stream, built on our codecs
// (no proto-loader at run time).
import * as grpc from '@grpc/grpc-js';
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
} from './discovery-codec.js';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_METHOD_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;

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

const AdsClientCtor = grpc.makeGenericClientConstructor(adsServiceDefinition, ADS_SERVICE_NAME);

/** Creates an ADS client for `target` (e.g. `127.0.0.1:18000`). */
export function createAdsClient(
  target: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): AdsClient {
  return new AdsClientCtor(target, credentials, options) as unknown as AdsClient;
}
