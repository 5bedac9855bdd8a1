// The xDS wire layer: proto loading, Any pack/unpack, discovery codecs, the ADS gRPC service.
export * from './type-urls.js';
export { protoRoot, protoLoadMs, lookupMessage, messageType } from './proto-root.js';
export { PROTO_FILES } from './gen/proto-files.js';
export {
  type EncodedAny,
  type JsonObject,
  type DecodeOptions,
  XdsEncodeError,
  encodeResource,
  encodeMessage,
  decodeResource,
  decodeMessage,
  typeForUrl,
} from './any.js';
export * from './discovery-codec.js';
export * from './ads-service.js';
export * from './ads-client-types.js';
export { grpcStatusError } from './grpc-status.js';
