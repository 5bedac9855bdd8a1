// The config dump (/config_dump): per type, the accepted version, subscribed names and the xDS
// JSON of every resource the proxy runs, with the node and connection status.
import { SECRET_TYPE } from '../../xds/type-urls.js';
import type { SidecarIdentity } from './sidecar-node.js';
import type { NackInfo, TypeState } from './type-state.js';

export interface XdsConfigDump {
  readonly node: SidecarIdentity;
  readonly status: unknown;
  readonly types: Readonly<
    Record<
      string,
      {
        readonly version: string;
        readonly subscribed: readonly string[];
        readonly wildcard: boolean;
        readonly lastNack?: NackInfo;
        readonly resources: readonly { readonly version: string; readonly resource: unknown }[];
      }
    >
  >;
}

export function buildConfigDump(
  node: SidecarIdentity,
  states: ReadonlyMap<string, TypeState>,
  status: unknown,
): XdsConfigDump {
  const types: Record<string, XdsConfigDump['types'][string]> = {};
  for (const ts of states.values()) {
    types[ts.short] = {
      version: ts.version,
      subscribed: [...ts.names].sort(),
      wildcard: ts.wildcard,
      ...(ts.lastNack ? { lastNack: ts.lastNack } : {}),
      resources: [...ts.resources.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, h]) => ({
          version: h.version,
          resource: ts.typeUrl === SECRET_TYPE ? redactSecret(h.json) : h.json,
        })),
    };
  }
  return { node, status, types };
}

/** An SDS Secret as dumped: the certificate chain stays, the private key never appears (Envoy's [redacted]). */
function redactSecret(json: Record<string, unknown>): Record<string, unknown> {
  const c = json['tls_certificate'];
  if (typeof c !== 'object' || c === null) return json;
  return { ...json, tls_certificate: { ...(c as Record<string, unknown>), private_key: '[redacted]' } };
}
