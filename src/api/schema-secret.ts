// zod schema of a Secret (Kubernetes core v1, type kubernetes.io/tls only): a certificate chain and
// its private key for a Gateway's HTTPS listeners (certificateRefs). `data` (base64) or
// `stringData` (PEM text) hold `tls.crt` and `tls.key`. Parsing checks that the chain is PEM X.509,
// that the key is an unencrypted PEM private key matching the first (leaf) certificate; whether the
// certificate has expired is analyze's (an expired stored Secret must still load). Messages never
// quote the values. What is stored is resourceToDocument's (the full data); what is shown
// (`trellis get`, API reads) is secretPublicDocument's: type and certificate facts, never the key.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { dnsSubdomain, fail, metadataSchema, oneOf, strict, unsupported } from './schema-common.js';
import type { SecretResource, TlsCertificateInfo } from './types.js';

export const SECRET_API_VERSION = 'v1';
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
const CRT = 'tls.crt';
const KEY = 'tls.key';

const pemMap = strict({
  [CRT]: z.string().optional(),
  [KEY]: z.string().optional(),
  'ca.crt': unsupported('ca.crt is not used (a Gateway listener does not verify client certificates)'),
});

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A PEM chain's certificates, leaf first; a message (never the value) when it is not one. */
export function parseCertificateChain(pem: string): X509Certificate[] | string {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0)
    return 'must hold a PEM certificate chain (-----BEGIN CERTIFICATE----- ...), the leaf first';
  const out: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      out.push(new X509Certificate(b));
    } catch (e) {
      return `certificate ${i + 1} of the chain does not parse as X.509 (${(e as Error).message})`;
    }
  }
  return out;
}

/** The private key; a message (never the value) when it is not an unencrypted PEM key. */
export function parsePrivateKey(pem: string): KeyObject | string {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem))
    return 'must hold a PEM private key (-----BEGIN PRIVATE KEY----- , RSA or EC)';
  if (/ENCRYPTED/.test(pem)) return 'must not be encrypted (the gateway has no passphrase to open it)';
  try {
    return createPrivateKey(pem);
  } catch (e) {
    return `does not parse as a private key (${(e as Error).message})`;
  }
}

/** What is shown of a certificate: subject, SANs, issuer, validity, fingerprint. */
export function certificateInfo(c: X509Certificate): TlsCertificateInfo {
  const sans = (c.subjectAltName ?? '')
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    sans,
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    sha256: createHash('sha256').update(c.raw).digest('hex'),
  };
}

type Src = 'data' | 'stringData';

export const secretSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('Secret'),
  metadata: metadataSchema(dnsSubdomain),
  type: oneOf([TLS_SECRET_TYPE] as const, 'Secret type (only TLS certificates are used)'),
  data: pemMap.optional(),
  stringData: pemMap.optional(),
  immutable: z.boolean().optional(),
}).superRefine((s, ctx) => {
  const get = (k: string): { src: Src; pem: string } | undefined => {
    const sv = (s.stringData as Record<string, string | undefined> | undefined)?.[k];
    if (sv !== undefined) return { src: 'stringData', pem: sv };
    const dv = (s.data as Record<string, string | undefined> | undefined)?.[k];
    if (dv === undefined) return undefined;
    const compact = dv.replace(/\s+/g, '');
    if (!B64.test(compact) || compact.length % 4 !== 0) {
      fail(ctx, 'invalid_value', `must be base64 (data holds base64; use stringData for PEM text)`, [
        'data',
        k,
      ]);
      return undefined;
    }
    return { src: 'data', pem: Buffer.from(compact, 'base64').toString('utf8') };
  };
  const crt = get(CRT);
  const key = get(KEY);
  for (const [k, v] of [
    [CRT, crt],
    [KEY, key],
  ] as const)
    if (v === undefined && (s.data as Record<string, unknown> | undefined)?.[k] === undefined)
      fail(
        ctx,
        'missing_field',
        `a kubernetes.io/tls Secret needs ${k} in data (base64) or stringData (PEM)`,
        ['data', k],
      );
  if (crt === undefined || key === undefined) return;
  const chain = parseCertificateChain(crt.pem);
  if (typeof chain === 'string') fail(ctx, 'invalid_value', chain, [crt.src, CRT]);
  const pk = parsePrivateKey(key.pem);
  if (typeof pk === 'string') fail(ctx, 'invalid_value', pk, [key.src, KEY]);
  if (typeof chain === 'string' || typeof pk === 'string') return;
  const leaf = chain[0] as X509Certificate;
  if (!leaf.checkPrivateKey(pk))
    fail(
      ctx,
      'invalid_value',
      `does not match the certificate (${leaf.subject.replace(/\n/g, ', ')}): the key must be the leaf certificate's, and the leaf must come first in ${CRT}`,
      [key.src, KEY],
    );
});

export type SecretDoc = z.output<typeof secretSchema>;

function pemOf(doc: SecretDoc, k: string): string {
  const sv = (doc.stringData as Record<string, string | undefined> | undefined)?.[k];
  if (sv !== undefined) return sv;
  const dv = (doc.data as Record<string, string | undefined> | undefined)?.[k] ?? '';
  return Buffer.from(dv.replace(/\s+/g, ''), 'base64').toString('utf8');
}

export function buildSecret(doc: SecretDoc): SecretResource {
  const certificateChain = pemOf(doc, CRT).trim() + '\n';
  const privateKey = pemOf(doc, KEY).trim() + '\n';
  const chain = parseCertificateChain(certificateChain) as X509Certificate[];
  return {
    apiVersion: SECRET_API_VERSION,
    kind: 'Secret',
    metadata: buildMetadata(doc.metadata),
    spec: {
      type: TLS_SECRET_TYPE,
      certificateChain,
      privateKey,
      certificate: certificateInfo(chain[0] as X509Certificate),
      chainLength: chain.length,
    },
  };
}

/** The stored form (Kubernetes shape, base64 data): everything, key included. */
export function secretToStoredDocument(r: SecretResource): Record<string, unknown> {
  return {
    type: r.spec.type,
    data: {
      [CRT]: Buffer.from(r.spec.certificateChain).toString('base64'),
      [KEY]: Buffer.from(r.spec.privateKey).toString('base64'),
    },
  };
}

/** The shown form: type and certificate facts; the key (and the PEM) never. */
export function secretPublicDocument(r: SecretResource): Record<string, unknown> {
  return {
    type: r.spec.type,
    data: { [CRT]: '(redacted)', [KEY]: '(redacted)' },
    certificate: {
      ...r.spec.certificate,
      sans: [...r.spec.certificate.sans],
      chainLength: r.spec.chainLength,
    },
  };
}

/** Days until `notAfter` (negative once expired). */
export const daysLeft = (info: TlsCertificateInfo, nowMs: number): number =>
  (Date.parse(info.notAfter) - nowMs) / 86_400_000;
