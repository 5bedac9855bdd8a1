// zod schema of MeshTLS (trellis.dev/v1alpha1): the mTLS mode between sidecars, STRICT (the
// default: plaintext refused), PERMISSIVE (plaintext accepted too, counted) or DISABLE, for the
// whole mesh (a MeshTLS in namespace trellis-system with no targetRefs), a namespace (no
// targetRefs, or a targetRef to its own Namespace) or Services (targetRefs to Services).
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { dnsLabel, fail, list, metadataSchema, oneOf, strict } from './schema-common.js';
import type { MeshTLSResource, MtlsMode } from './types.js';
import { TRELLIS_API_VERSION } from './types.js';

/** The namespace whose target-less MeshTLS sets the mesh-wide default. */
export const MESH_CONFIG_NAMESPACE = 'trellis-system';
export const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLE'];

const targetRef = strict({
  group: z.string().optional(),
  kind: oneOf(['Service', 'Namespace'] as const, 'targetRef kind'),
  name: dnsLabel(),
  sectionName: z
    .unknown()
    .superRefine((_v, ctx) =>
      fail(ctx, 'unsupported', 'MeshTLS applies to a whole Service (all its ports); drop sectionName'),
    )
    .optional(),
  namespace: z
    .unknown()
    .superRefine((_v, ctx) =>
      fail(ctx, 'unsupported', 'MeshTLS attaches only within its own namespace; drop targetRefs[].namespace'),
    )
    .optional(),
});

export const meshTlsSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('MeshTLS'),
  metadata: metadataSchema(dnsLabel),
  spec: strict({
    mode: oneOf(MTLS_MODES, 'mode'),
    targetRefs: list(targetRef, 16).optional(),
  }),
}).superRefine((s, ctx) => {
  const ns = s.metadata.namespace ?? 'default';
  (s.spec.targetRefs ?? []).forEach((t, i) => {
    if (t.kind === 'Namespace' && t.name !== ns)
      fail(
        ctx,
        'invalid_value',
        `a MeshTLS in namespace ${ns} can only target its own namespace (name: ${ns}); put it in namespace ${t.name}`,
        ['spec', 'targetRefs', i, 'name'],
      );
  });
});

type Doc = z.output<typeof meshTlsSchema>;

export function buildMeshTls(doc: Doc): MeshTLSResource {
  return {
    apiVersion: TRELLIS_API_VERSION,
    kind: 'MeshTLS',
    metadata: buildMetadata(doc.metadata),
    spec: {
      mode: doc.spec.mode,
      targetRefs: (doc.spec.targetRefs ?? []).map((t) => ({
        group: t.group ?? '',
        kind: t.kind,
        name: t.name,
      })),
    },
  };
}

export function meshTlsToDocument(r: MeshTLSResource): Record<string, unknown> {
  return {
    mode: r.spec.mode,
    ...(r.spec.targetRefs.length > 0 && {
      targetRefs: r.spec.targetRefs.map((t) => ({
        ...(t.group !== '' && { group: t.group }),
        kind: t.kind,
        name: t.name,
      })),
    }),
  };
}

/**
 * The mode for a Service: a MeshTLS targeting the Service, else its namespace's (target-less or
 * targeting the Namespace), else the mesh-wide one (target-less in trellis-system), else STRICT.
 * Several at one level: the first by name wins (analysis warns).
 */
export function mtlsModeFor(
  policies: readonly MeshTLSResource[] | undefined,
  namespace: string,
  service: string,
): MtlsMode {
  if (policies === undefined || policies.length === 0) return 'STRICT';
  let svc: MeshTLSResource | undefined;
  let ns: MeshTLSResource | undefined;
  let mesh: MeshTLSResource | undefined;
  const first = (a: MeshTLSResource | undefined, b: MeshTLSResource): MeshTLSResource =>
    a === undefined || b.metadata.name < a.metadata.name ? b : a;
  for (const p of policies) {
    const pns = p.metadata.namespace;
    const targets = p.spec.targetRefs;
    if (targets.length === 0) {
      if (pns === namespace) ns = first(ns, p);
      else if (pns === MESH_CONFIG_NAMESPACE) mesh = first(mesh, p);
      continue;
    }
    if (pns !== namespace) continue;
    for (const t of targets) {
      if (t.kind === 'Service' && t.name === service) svc = first(svc, p);
      else if (t.kind === 'Namespace') ns = first(ns, p);
    }
  }
  return (svc ?? ns ?? mesh)?.spec.mode ?? 'STRICT';
}
