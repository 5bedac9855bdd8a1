// zod schema of a Gateway document (gateway.networking.k8s.io/v1) and its defaulted GatewayResource:
// the ingress gateway's listeners. Routes attach to it by parentRefs (kind Gateway, sectionName =
// listener name). Cross-resource checks (routes naming it, port clashes) are in analyze.ts.
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { addressError, hostnameError } from './formats.js';
import {
  dnsSubdomain,
  fail,
  list,
  metadataSchema,
  oneOf,
  port,
  sectionName,
  str,
  strict,
  unsupported,
} from './schema-common.js';
import type { GatewayResource } from './types.js';
import { GATEWAY_API_VERSION } from './types.js';

export const GATEWAY_CLASS = 'trellis';

const listener = strict({
  name: sectionName(),
  port: port(),
  protocol: oneOf(['HTTP'] as const, 'listener protocol (HTTPS/TLS come with mTLS)'),
  hostname: str((v) => hostnameError(v)).optional(),
  allowedRoutes: strict({
    namespaces: strict({
      from: oneOf(['Same', 'All'] as const, 'allowedRoutes.namespaces.from').optional(),
      selector: unsupported('namespace selectors are not supported; use from: Same or All'),
    }).optional(),
    kinds: unsupported('allowedRoutes.kinds is not supported; HTTPRoute and GRPCRoute may attach'),
  }).optional(),
  tls: unsupported('TLS listeners come with mTLS (issue 5); use protocol: HTTP'),
});

const address = strict({
  type: oneOf(['IPAddress'] as const, 'address type').optional(),
  value: str(addressError),
});

export const gatewaySchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('Gateway'),
  metadata: metadataSchema(dnsSubdomain),
  spec: strict({
    gatewayClassName: z.string().superRefine((v, ctx) => {
      if (v !== GATEWAY_CLASS)
        fail(ctx, 'invalid_value', `gatewayClassName must be "${GATEWAY_CLASS}"; got ${JSON.stringify(v)}`);
    }),
    listeners: list(listener, 64).superRefine((ls, ctx) => {
      if (ls.length === 0)
        fail(
          ctx,
          'invalid_value',
          'a Gateway needs at least one listener, e.g. [{name: http, port: 8080, protocol: HTTP}]',
        );
      const names = new Set<string>();
      ls.forEach((l, i) => {
        if (names.has(l.name))
          fail(
            ctx,
            'invalid_value',
            `listener name ${JSON.stringify(l.name)} is used twice; names must be unique`,
            [i, 'name'],
          );
        names.add(l.name);
      });
    }),
    addresses: list(address, 4).optional(),
    infrastructure: unsupported('spec.infrastructure is not supported'),
  }),
});

export type GatewayDoc = z.output<typeof gatewaySchema>;

export function buildGateway(doc: GatewayDoc): GatewayResource {
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: 'Gateway',
    metadata: buildMetadata(doc.metadata),
    spec: {
      gatewayClassName: doc.spec.gatewayClassName,
      listeners: doc.spec.listeners.map((l) => ({
        name: l.name,
        port: l.port,
        protocol: l.protocol,
        ...(l.hostname !== undefined && { hostname: l.hostname.toLowerCase() }),
        allowedRoutesFrom: l.allowedRoutes?.namespaces?.from ?? 'Same',
      })),
      addresses: (doc.spec.addresses ?? [])
        .map((a) => a.value)
        .concat(doc.spec.addresses?.length ? [] : ['127.0.0.1']),
    },
  };
}

export function gatewayToDocument(r: GatewayResource): Record<string, unknown> {
  return {
    gatewayClassName: r.spec.gatewayClassName,
    listeners: r.spec.listeners.map((l) => ({
      name: l.name,
      port: l.port,
      protocol: l.protocol,
      ...(l.hostname !== undefined && { hostname: l.hostname }),
      allowedRoutes: { namespaces: { from: l.allowedRoutesFrom } },
    })),
    addresses: r.spec.addresses.map((value) => ({ type: 'IPAddress', value })),
  };
}
