// Who is asking for config: a Trellis sidecar or a proxyless gRPC client, read from the xDS Node.
// (Contract shared by translate/ and the ADS server; parseNode is implemented in this file.)

export type NodeKind = 'sidecar' | 'proxyless';

export interface SidecarPorts {
  /** Address the sidecar's listeners bind and its instance is reached at (default 127.0.0.1). */
  readonly address: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly appPort: number;
}

export interface NodeInfo {
  readonly id: string;
  readonly kind: NodeKind;
  /** Namespace short names resolve in (`reviews` -> `reviews.<namespace>`); default `default`. */
  readonly namespace: string;
  /** The Service this node's workload belongs to, when known. */
  readonly service?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Present for sidecars. */
  readonly sidecar?: SidecarPorts;
}

/**
 * Node metadata keys a Trellis sidecar sets (anything else, e.g. a plain gRPC bootstrap with any
 * node id and no metadata, is a proxyless client in namespace `default`).
 */
export const NODE_META = {
  kind: 'TRELLIS_KIND', // "sidecar"
  namespace: 'NAMESPACE',
  service: 'SERVICE',
  labels: 'LABELS', // a Struct of string values
  address: 'INSTANCE_IP',
  inboundPort: 'INBOUND_PORT',
  outboundPort: 'OUTBOUND_PORT',
  appPort: 'APP_PORT',
} as const;
