// Node metadata keys a Trellis sidecar or gateway sends in its xDS Node (a copy of translate/node.ts's
// NODE_META: src/proxy may not import src/translate), and the route naming it relies on.

export const NODE_META = {
  kind: 'TRELLIS_KIND', // "sidecar" or "gateway"
  namespace: 'NAMESPACE',
  gateway: 'GATEWAY', // a gateway's Gateway resource name (in NAMESPACE)
  service: 'SERVICE',
  labels: 'LABELS', // a Struct of string values
  address: 'INSTANCE_IP',
  inboundPort: 'INBOUND_PORT',
  outboundPort: 'OUTBOUND_PORT',
  appPort: 'APP_PORT',
  upstreams: 'UPSTREAMS', // a list of "name[.ns]:port=localPort" strings
  mtls: 'MTLS', // "true": the sidecar has a workload identity and terminates mTLS inbound
} as const;

export const SIDECAR_KIND = 'sidecar';
export const GATEWAY_KIND = 'gateway';

/** VHDS resource name for `host` in route table `table` (Envoy's `<route config>/<host>`). */
export const vhdsName = (table: string, host: string): string => `${table}/${host}`;
