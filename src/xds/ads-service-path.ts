// The ADS service name and method path, shared by the grpc-js service and the light http2 client
// (this module imports nothing, so the sidecar can use it without loading @grpc/grpc-js).
export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_METHOD_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;
