// zod schema of a ConfigMap (Kubernetes core v1), the kind Gateway API client certificate
// validation (GEP-91: Gateway spec.tls.frontend ... validation.caCertificateRefs) names: its
// `ca.crt` key holds the PEM bundle of the CAs a gateway verifies client certificates against.
// Other keys are kept as given. A `ca.crt` must parse as one or more PEM X.509 certificates.
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { dnsSubdomain, fail, metadataSchema, stringMap, strict, unsupported } from './schema-common.js';
import type { ConfigMapResource } from './types.js';

export const CONFIGMAP_API_VERSION = 'v1';
export const CA_KEY = 'ca.crt';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A problem with a CA bundle (never quoting it), or undefined. */
export function caBundleError(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0)
    return 'must hold one or more PEM CA certificates (-----BEGIN CERTIFICATE----- ...)';
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      return `certificate ${i + 1} does not parse as X.509 (${(e as Error).message})`;
    }
  }
  return undefined;
}

export const configMapSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('ConfigMap'),
  metadata: metadataSchema(dnsSubdomain),
  data: stringMap().optional(),
  binaryData: unsupported('binaryData is not supported; put PEM text under data'),
  immutable: z.boolean().optional(),
}).superRefine((c, ctx) => {
  const ca = c.data?.[CA_KEY];
  if (ca === undefined) return;
  const problem = caBundleError(ca);
  if (problem !== undefined) fail(ctx, 'invalid_value', problem, ['data', CA_KEY]);
});

export type ConfigMapDoc = z.output<typeof configMapSchema>;

export function buildConfigMap(doc: ConfigMapDoc): ConfigMapResource {
  return {
    apiVersion: CONFIGMAP_API_VERSION,
    kind: 'ConfigMap',
    metadata: buildMetadata(doc.metadata),
    spec: { data: { ...(doc.data ?? {}) } },
  };
}

/** The stored and shown form: CA certificates are public. */
export function configMapToDocument(r: ConfigMapResource): Record<string, unknown> {
  return { data: { ...r.spec.data } };
}
