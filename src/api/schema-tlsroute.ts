// zod schema of a TLSRoute (gateway.networking.k8s.io v1alpha2, v1alpha3 or v1) and its defaulted
// TLSRouteResource: TLS connections a Gateway listener with protocol TLS and tls.mode Passthrough
// hands on undecrypted, chosen by the ClientHello's SNI (spec.hostnames: exact or `*.suffix`),
// to weighted Service backends. Cross-resource checks (the parent listener is a TLS Passthrough
// one, hostnames intersect its hostname, backends exist) are in analyze-tlsroute.ts.
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { hostnameError } from './formats.js';
import { resolveBackendRef, resolveParentRef } from './refs.js';
import {
  backendObjectRefShape,
  dnsSubdomain,
  fail,
  intIn,
  list,
  metadataSchema,
  parentRefSchema,
  str,
  strict,
  unsupported,
} from './schema-common.js';
import type { BackendRefConfig, ParentRefConfig, TLSRouteResource } from './types.js';

export const TLSROUTE_API_VERSIONS = [
  'gateway.networking.k8s.io/v1alpha2',
  'gateway.networking.k8s.io/v1alpha3',
  'gateway.networking.k8s.io/v1',
] as const;

const parentRef = parentRefSchema().superRefine((p, ctx) => {
  const r = resolveParentRef(p.group, p.kind);
  if (!r.ok) fail(ctx, 'invalid_value', r.message, [r.field]);
  else if (r.kind !== 'Gateway')
    fail(ctx, 'invalid_value', 'a TLSRoute attaches to a Gateway (kind Gateway), not to a Service', ['kind']);
});

const backendRef = strict({
  ...backendObjectRefShape,
  port: intIn(1, 65535),
  weight: intIn(0, 1_000_000).optional(),
  filters: unsupported('a TLSRoute has no filters'),
}).superRefine((b, ctx) => {
  const r = resolveBackendRef(b.group, b.kind);
  if (!r.ok) fail(ctx, 'invalid_value', r.message, [r.field]);
});

const rule = strict({
  name: dnsSubdomain().optional(),
  backendRefs: list(backendRef, 16).superRefine((a, ctx) => {
    if (a.length === 0)
      fail(
        ctx,
        'invalid_value',
        'a TLSRoute rule needs at least one backendRef: [{name: SERVICE, port: PORT}]',
      );
  }),
});

export const tlsRouteSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('TLSRoute'),
  metadata: metadataSchema(dnsSubdomain),
  spec: strict({
    parentRefs: list(parentRef, 32).superRefine((a, ctx) => {
      if (a.length === 0)
        fail(ctx, 'invalid_value', 'a TLSRoute needs a parentRef: [{name: GATEWAY, sectionName: LISTENER}]');
    }),
    hostnames: list(
      str((v) => hostnameError(v)),
      16,
    ).optional(),
    rules: list(rule, 1).superRefine((a, ctx) => {
      if (a.length === 0) fail(ctx, 'invalid_value', 'a TLSRoute needs one rule with backendRefs');
    }),
  }),
});

export type TLSRouteDoc = z.output<typeof tlsRouteSchema>;

export function buildTLSRoute(doc: TLSRouteDoc, apiVersion: string): TLSRouteResource {
  const metadata = buildMetadata(doc.metadata);
  const ns = metadata.namespace;
  return {
    apiVersion,
    kind: 'TLSRoute',
    metadata,
    spec: {
      parentRefs: doc.spec.parentRefs.map((p): ParentRefConfig => ({
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: p.name,
        namespace: p.namespace ?? ns,
        ...(p.port !== undefined && { port: p.port }),
        ...(p.sectionName !== undefined && { sectionName: p.sectionName }),
      })),
      hostnames: (doc.spec.hostnames ?? []).map((h) => h.toLowerCase()),
      rules: doc.spec.rules.map((r) => ({
        backendRefs: r.backendRefs.map((b): BackendRefConfig => ({
          group: '',
          kind: 'Service',
          name: b.name,
          namespace: b.namespace ?? ns,
          port: b.port,
          ...(b.subset !== undefined && { subset: b.subset }),
          weight: b.weight ?? 1,
        })),
      })),
    },
  };
}

export function tlsRouteToDocument(r: TLSRouteResource): Record<string, unknown> {
  return {
    parentRefs: r.spec.parentRefs.map((p) => ({
      group: p.group,
      kind: p.kind,
      namespace: p.namespace,
      name: p.name,
      ...(p.sectionName !== undefined && { sectionName: p.sectionName }),
      ...(p.port !== undefined && { port: p.port }),
    })),
    ...(r.spec.hostnames.length > 0 && { hostnames: [...r.spec.hostnames] }),
    rules: r.spec.rules.map((rule) => ({
      backendRefs: rule.backendRefs.map((b) => ({
        name: b.name,
        namespace: b.namespace,
        port: b.port,
        ...(b.subset !== undefined && { subset: b.subset }),
        weight: b.weight,
      })),
    })),
  };
}
