// The xDS Node a Trellis sidecar (or gateway) sends on the first request of each stream: id,
// cluster (its Service, or `gateway/<name>`) and the metadata the control plane reads (NODE_META).
import type { XdsNode } from '../../xds/discovery-codec.js';
import { GATEWAY_KIND, NODE_META, SIDECAR_KIND } from '../config/node-meta.js';

export interface SidecarIdentity {
  /** Unique per proxy (e.g. `<service>-<host>-<pid>`). */
  readonly id: string;
  /** The Service this workload belongs to ('' for a gateway). */
  readonly service: string;
  /** Gateway mode: the Gateway resource (in `namespace`) this proxy serves; no app, no ports. */
  readonly gateway?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Address its listeners bind and its instance is reached at (default 127.0.0.1). */
  readonly instanceIp?: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly appPort: number;
  /** Per-upstream local ports, sent as UPSTREAMS `name[.ns]:port=localPort` strings. */
  readonly upstreams?: readonly {
    readonly service: string;
    readonly namespace?: string;
    readonly port: number;
    readonly localPort: number;
  }[];
  /** The proxy has a workload identity (a bootstrap token): its inbound listener terminates mTLS. */
  readonly mtls?: boolean;
}

export const USER_AGENT = 'trellis-proxy';

export function buildSidecarNode(s: SidecarIdentity, version: string): XdsNode {
  if (s.gateway !== undefined)
    return {
      id: s.id,
      cluster: `gateway/${s.gateway}`,
      metadata: {
        [NODE_META.kind]: GATEWAY_KIND,
        [NODE_META.namespace]: s.namespace ?? 'default',
        [NODE_META.gateway]: s.gateway,
        [NODE_META.labels]: { ...(s.labels ?? {}) },
      },
      user_agent_name: USER_AGENT,
      user_agent_version: version,
    };
  return {
    id: s.id,
    cluster: s.service,
    metadata: {
      [NODE_META.kind]: SIDECAR_KIND,
      [NODE_META.namespace]: s.namespace ?? 'default',
      [NODE_META.service]: s.service,
      [NODE_META.labels]: { ...(s.labels ?? {}) },
      [NODE_META.address]: s.instanceIp ?? '127.0.0.1',
      [NODE_META.inboundPort]: String(s.inboundPort),
      [NODE_META.outboundPort]: String(s.outboundPort),
      [NODE_META.appPort]: String(s.appPort),
      ...(s.mtls === true ? { [NODE_META.mtls]: 'true' } : {}),
      ...(s.upstreams !== undefined && s.upstreams.length > 0
        ? {
            [NODE_META.upstreams]: s.upstreams.map(
              (u) =>
                `${u.service}${u.namespace !== undefined ? `.${u.namespace}` : ''}:${u.port}=${u.localPort}`,
            ),
          }
        : {}),
    },
    user_agent_name: USER_AGENT,
    user_agent_version: version,
  };
}
