// zod schema of a Gateway document (gateway.networking.k8s.io/v1) and its defaulted GatewayResource:
// the ingress gateway's listeners (HTTP; HTTPS terminating TLS with the kubernetes.io/tls Secrets
// named by tls.certificateRefs, the listener hostname being the SNI name they serve; TLS with
// tls.mode Passthrough for TLSRoutes), and spec.tls.frontend (GEP-91 client certificate
// validation per HTTPS port against the ca.crt of ConfigMaps).
// Routes attach to it by parentRefs (kind Gateway, sectionName = listener name). Cross-resource
// checks (routes naming it, port clashes, missing Secrets) are in analyze-gateway.ts.
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
import type { GatewayFrontendTlsConfig, GatewayResource } from './types.js';
import { GATEWAY_API_VERSION } from './types.js';

export const GATEWAY_CLASS = 'trellis';

const certificateRef = strict({
  group: z
    .string()
    .superRefine((v, ctx) => {
      if (v !== '')
        fail(ctx, 'invalid_value', `group must be empty (core) for a Secret; got ${JSON.stringify(v)}`);
    })
    .optional(),
  kind: oneOf(['Secret'] as const, 'certificateRef kind').optional(),
  name: dnsSubdomain(),
  namespace: unsupported(
    "certificateRefs name a Secret in the Gateway's own namespace (cross-namespace references need a ReferenceGrant, which Trellis does not support)",
  ),
});

const listenerTls = strict({
  mode: oneOf(['Terminate', 'Passthrough'] as const, 'tls.mode').optional(),
  certificateRefs: list(certificateRef, 64).optional(),
  options: unsupported('tls.options are not supported (TLS 1.2+, ALPN h2 and http/1.1 are fixed)'),
  frontendValidation: unsupported(
    'listener tls.frontendValidation was replaced in the Gateway API (GEP-91, standard) by the Gateway-level spec.tls.frontend: {default: {validation: {caCertificateRefs: [{kind: ConfigMap, name: NAME}]}}, perPort: [...]}; use that',
  ),
});

const listener = strict({
  name: sectionName(),
  port: port(),
  protocol: oneOf(['HTTP', 'HTTPS', 'TLS'] as const, 'listener protocol'),
  hostname: str((v) => hostnameError(v)).optional(),
  allowedRoutes: strict({
    namespaces: strict({
      from: oneOf(['Same', 'All'] as const, 'allowedRoutes.namespaces.from').optional(),
      selector: unsupported('namespace selectors are not supported; use from: Same or All'),
    }).optional(),
    kinds: unsupported(
      'allowedRoutes.kinds is not supported; HTTPRoute and GRPCRoute attach to HTTP/HTTPS listeners, TLSRoute to TLS ones',
    ),
  }).optional(),
  tls: listenerTls.optional(),
}).superRefine((l, ctx) => {
  if (l.protocol === 'HTTP' && l.tls !== undefined)
    fail(ctx, 'invalid_value', 'tls applies to protocol HTTPS listeners; drop it or use protocol: HTTPS', [
      'tls',
    ]);
  if (l.protocol === 'HTTPS' && l.tls?.mode === 'Passthrough')
    fail(
      ctx,
      'invalid_value',
      'an HTTPS listener terminates TLS (mode: Terminate); for TLS passthrough use protocol: TLS with TLSRoutes',
      ['tls', 'mode'],
    );
  if (l.protocol === 'TLS') {
    if (l.tls?.mode !== 'Passthrough')
      fail(
        ctx,
        l.tls?.mode === undefined ? 'missing_field' : 'unsupported',
        'a protocol TLS listener needs tls: {mode: Passthrough} (the gateway hands the TLS bytes to the TLSRoute backend by SNI); to terminate TLS use protocol: HTTPS',
        l.tls === undefined ? ['tls'] : ['tls', 'mode'],
      );
    else if ((l.tls.certificateRefs?.length ?? 0) > 0)
      fail(
        ctx,
        'invalid_value',
        'a Passthrough listener has no certificate (the backend serves its own); drop certificateRefs',
        ['tls', 'certificateRefs'],
      );
    return;
  }
  if (l.protocol === 'HTTPS' && (l.tls?.certificateRefs?.length ?? 0) === 0)
    fail(
      ctx,
      'missing_field',
      "an HTTPS listener needs tls.certificateRefs: [{kind: Secret, name: NAME}] (a kubernetes.io/tls Secret in the Gateway's namespace)",
      l.tls === undefined ? ['tls'] : ['tls', 'certificateRefs'],
    );
});

/** GEP-91: a ConfigMap (core group) of the Gateway's namespace whose `ca.crt` holds CA certificates. */
const caCertificateRef = strict({
  group: z
    .string()
    .superRefine((v, ctx) => {
      if (v !== '' && v !== 'core')
        fail(ctx, 'invalid_value', `group must be empty (core) for a ConfigMap; got ${JSON.stringify(v)}`);
    })
    .optional(),
  kind: oneOf(['ConfigMap'] as const, 'caCertificateRef kind').optional(),
  name: dnsSubdomain(),
  namespace: unsupported(
    "caCertificateRefs name a ConfigMap in the Gateway's own namespace (cross-namespace references need a ReferenceGrant, which Trellis does not support)",
  ),
});

const validation = strict({
  caCertificateRefs: list(caCertificateRef, 8).superRefine((a, ctx) => {
    if (a.length === 0)
      fail(
        ctx,
        'invalid_value',
        'at least one caCertificateRef: [{kind: ConfigMap, name: NAME}] (its ca.crt)',
      );
  }),
  mode: z
    .string()
    .superRefine((v, ctx) => {
      if (v === 'AllowInsecureFallback')
        fail(
          ctx,
          'unsupported',
          'mode AllowInsecureFallback is not supported: clients without a valid certificate are refused (AllowValidOnly)',
        );
      else if (v !== 'AllowValidOnly')
        fail(ctx, 'invalid_value', `validation mode must be AllowValidOnly; got ${JSON.stringify(v)}`);
    })
    .optional(),
});

const gatewayTls = strict({
  frontend: strict({
    default: strict({ validation: validation.optional() }),
    perPort: list(strict({ port: port(), tls: strict({ validation: validation.optional() }) }), 64)
      .superRefine((a, ctx) => {
        const seen = new Set<number>();
        a.forEach((p, i) => {
          if (seen.has(p.port))
            fail(ctx, 'invalid_value', `port ${p.port} appears twice in perPort; one entry per port`, [
              i,
              'port',
            ]);
          seen.add(p.port);
        });
      })
      .optional(),
  }).optional(),
  backend: unsupported('spec.tls.backend (a client certificate towards backends) is not supported'),
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
    tls: gatewayTls.optional(),
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
        ...(l.protocol === 'TLS' && {
          tls: { mode: 'Passthrough' as const, certificateRefs: [] },
        }),
        ...(l.protocol === 'HTTPS' && {
          tls: {
            mode: 'Terminate' as const,
            certificateRefs: (l.tls?.certificateRefs ?? []).map((c) => c.name),
          },
        }),
      })),
      ...(doc.spec.tls?.frontend !== undefined && {
        frontendTls: {
          ...(doc.spec.tls.frontend.default.validation !== undefined && {
            defaultCaRefs: doc.spec.tls.frontend.default.validation.caCertificateRefs.map((r) => r.name),
          }),
          perPort: (doc.spec.tls.frontend.perPort ?? []).flatMap((p) =>
            p.tls.validation === undefined
              ? [{ port: p.port, caRefs: [] }]
              : [{ port: p.port, caRefs: p.tls.validation.caCertificateRefs.map((r) => r.name) }],
          ),
        },
      }),
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
      ...(l.tls !== undefined && {
        tls: {
          mode: l.tls.mode,
          ...(l.tls.mode === 'Terminate' && {
            certificateRefs: l.tls.certificateRefs.map((name) => ({ kind: 'Secret', name })),
          }),
        },
      }),
    })),
    addresses: r.spec.addresses.map((value) => ({ type: 'IPAddress', value })),
    ...(r.spec.frontendTls !== undefined && { tls: { frontend: frontendToDocument(r.spec.frontendTls) } }),
  };
}

const refsDoc = (names: readonly string[]) => ({
  caCertificateRefs: names.map((name) => ({ group: '', kind: 'ConfigMap', name })),
});

function frontendToDocument(f: GatewayFrontendTlsConfig): Record<string, unknown> {
  return {
    default: f.defaultCaRefs !== undefined ? { validation: refsDoc(f.defaultCaRefs) } : {},
    ...(f.perPort.length > 0 && {
      perPort: f.perPort.map((p) => ({
        port: p.port,
        tls: p.caRefs.length > 0 ? { validation: refsDoc(p.caRefs) } : {},
      })),
    }),
  };
}

/** The ConfigMaps whose `ca.crt` verify client certificates on a port; empty: none asked for. */
export function clientCaRefsForPort(
  f: GatewayFrontendTlsConfig | undefined,
  port: number,
): readonly string[] {
  if (f === undefined) return [];
  const p = f.perPort.find((x) => x.port === port);
  return p !== undefined ? p.caRefs : (f.defaultCaRefs ?? []);
}
