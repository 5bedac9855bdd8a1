// SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md), strictly:
// `spiffe://<trust-domain><path>`, lower-case scheme, trust domain of [a-z0-9._-] (no port, no
// userinfo), path segments of [A-Za-z0-9._-] that are neither empty, "." nor "..", no trailing
// slash, no percent-encoding, no query or fragment, at most 2048 bytes in all and 255 for the trust
// domain. Trellis workloads have `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.

import { TrellisError } from '../common/errors.js';
import { dnsLabelError, dnsSubdomainError } from '../api/formats.js';

export const SPIFFE_SCHEME_PREFIX = 'spiffe://';
export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

/** A SPIFFE ID that passed validation. `uri` is its one canonical string form. */
export interface SpiffeId {
  readonly uri: string;
  readonly trustDomain: string;
  /** The path with its leading "/", or "" for the trust domain's own ID. */
  readonly path: string;
}

/** A Trellis workload identity: `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
export interface WorkloadId extends SpiffeId {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Invalid SPIFFE ID or trust domain; `details.field` names the bad input. */
export class SpiffeIdError extends TrellisError {
  constructor(field: string, message: string) {
    super('BAD_REQUEST', `${field}: ${message}`, { field });
    this.name = 'SpiffeIdError';
  }
}

/** Undefined when `td` is a valid trust domain name, else what is wrong and what would be valid. */
export function trustDomainError(td: string): string | undefined {
  if (td.length === 0) return 'the trust domain is empty; use a name such as "cluster.local"';
  if (td.length > MAX_TRUST_DOMAIN_LENGTH)
    return `the trust domain is ${td.length} characters long; at most ${MAX_TRUST_DOMAIN_LENGTH} are allowed`;
  if (td.includes(':'))
    return 'the trust domain may not carry a port (or userinfo); use just a name such as "cluster.local"';
  if (td.includes('@')) return 'the trust domain may not carry userinfo ("user@"); use just a name';
  if (!TRUST_DOMAIN_CHARS.test(td)) {
    const bad = [...td].find((c) => !/[a-z0-9._-]/.test(c)) ?? '';
    const hint = /[A-Z]/.test(bad) ? ' (upper case is not allowed: write it in lower case)' : '';
    return `the trust domain has the character ${JSON.stringify(bad)}${hint}; only lower-case letters, digits, ".", "-" and "_" are allowed`;
  }
  return undefined;
}

export function validateTrustDomain(td: string, field = 'trustDomain'): string {
  const err = trustDomainError(td);
  if (err) throw new SpiffeIdError(field, err);
  return td;
}

function segmentError(seg: string, index: number): string | undefined {
  if (seg === '') return `path segment ${index + 1} is empty (no "//" and no trailing "/")`;
  if (seg === '.' || seg === '..')
    return `path segment ${index + 1} is "${seg}"; dot segments are not allowed`;
  if (!SEGMENT_CHARS.test(seg)) {
    const bad = [...seg].find((c) => !/[A-Za-z0-9._-]/.test(c)) ?? '';
    const why =
      bad === '%'
        ? ' (percent-encoding is not allowed)'
        : bad === '?' || bad === '#'
          ? ' (queries and fragments are not allowed)'
          : '';
    return `path segment ${index + 1} (${JSON.stringify(seg)}) has the character ${JSON.stringify(bad)}${why}; only letters, digits, ".", "-" and "_" are allowed`;
  }
  return undefined;
}

/** Parses any SPIFFE ID strictly. Throws SpiffeIdError naming `field` and the rule broken. */
export function parseSpiffeId(input: string, field = 'spiffeId'): SpiffeId {
  if (typeof input !== 'string') throw new SpiffeIdError(field, 'must be a string');
  if (Buffer.byteLength(input, 'utf8') > MAX_SPIFFE_ID_LENGTH)
    throw new SpiffeIdError(field, `is longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
  if (!input.startsWith(SPIFFE_SCHEME_PREFIX)) {
    const hint = /^spiffe:\/\//i.test(input)
      ? ' (the scheme must be written in lower case)'
      : ' (the form is spiffe://<trust-domain>/<path>)';
    throw new SpiffeIdError(field, `must start with "spiffe://"${hint}, got ${JSON.stringify(input)}`);
  }
  const rest = input.slice(SPIFFE_SCHEME_PREFIX.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const q = td.search(/[?#]/);
  if (q >= 0) throw new SpiffeIdError(field, 'queries and fragments are not allowed in a SPIFFE ID');
  const tdErr = trustDomainError(td);
  if (tdErr) throw new SpiffeIdError(field, tdErr);
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (let i = 0; i < segments.length; i++) {
      const err = segmentError(segments[i] as string, i);
      if (err) throw new SpiffeIdError(field, err);
    }
  }
  return Object.freeze({ uri: input, trustDomain: td, path });
}

/** Parses a Trellis workload ID: a SPIFFE ID whose path is exactly /ns/<namespace>/sa/<account>. */
export function parseWorkloadId(input: string, field = 'spiffeId'): WorkloadId {
  const id = parseSpiffeId(input, field);
  const segs = id.path.split('/').slice(1);
  if (segs.length !== 4 || segs[0] !== 'ns' || segs[2] !== 'sa')
    throw new SpiffeIdError(
      field,
      `a workload ID has the path /ns/<namespace>/sa/<service-account>, got ${JSON.stringify(id.path || '(none)')}`,
    );
  const namespace = segs[1] as string;
  const serviceAccount = segs[3] as string;
  checkNames(namespace, serviceAccount, field);
  return Object.freeze({ ...id, namespace, serviceAccount });
}

function checkNames(namespace: string, serviceAccount: string, field: string): void {
  const nsErr = dnsLabelError(namespace);
  if (nsErr) throw new SpiffeIdError(`${field}.namespace`, `${JSON.stringify(namespace)} ${nsErr}`);
  const saErr = dnsSubdomainError(serviceAccount);
  if (saErr) throw new SpiffeIdError(`${field}.serviceAccount`, `${JSON.stringify(serviceAccount)} ${saErr}`);
}

/** Builds the workload ID for a namespace and service account in a trust domain, validating each part. */
export function workloadId(trustDomain: string, namespace: string, serviceAccount: string): WorkloadId {
  validateTrustDomain(trustDomain);
  checkNames(namespace, serviceAccount, 'spiffeId');
  const path = `/ns/${namespace}/sa/${serviceAccount}`;
  const uri = `${SPIFFE_SCHEME_PREFIX}${trustDomain}${path}`;
  if (Buffer.byteLength(uri) > MAX_SPIFFE_ID_LENGTH)
    throw new SpiffeIdError('spiffeId', `is longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
  return Object.freeze({ uri, trustDomain, path, namespace, serviceAccount });
}

/** The trust domain's own ID, `spiffe://<trust-domain>` (used as the CA certificates' URI SAN). */
export function trustDomainId(trustDomain: string): SpiffeId {
  validateTrustDomain(trustDomain);
  return Object.freeze({ uri: `${SPIFFE_SCHEME_PREFIX}${trustDomain}`, trustDomain, path: '' });
}
