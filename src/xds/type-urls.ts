// xDS v3 type URLs: the full form, as clients require on responses and on every Any.
export const TYPE_PREFIX = 'type.googleapis.com/';

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const VIRTUAL_HOST_TYPE = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export type XdsTypeUrl =
  | typeof LISTENER_TYPE
  | typeof ROUTE_TYPE
  | typeof VIRTUAL_HOST_TYPE
  | typeof CLUSTER_TYPE
  | typeof ENDPOINT_TYPE
  | typeof SECRET_TYPE;

/** Push order that never leaves a reference dangling: CDS, EDS, LDS, RDS, VHDS. */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  VIRTUAL_HOST_TYPE,
];

export const SHORT_NAMES: Readonly<Record<string, string>> = {
  [LISTENER_TYPE]: 'LDS',
  [ROUTE_TYPE]: 'RDS',
  [VIRTUAL_HOST_TYPE]: 'VHDS',
  [CLUSTER_TYPE]: 'CDS',
  [ENDPOINT_TYPE]: 'EDS',
  [SECRET_TYPE]: 'SDS',
};
