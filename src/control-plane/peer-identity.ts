// Does a verified peer identity (the SPIFFE ID of a client certificate on the secure port) match
// what the peer claims to be: a sidecar of Service S in namespace N must hold
// spiffe://<td>/ns/N/sa/S, a gateway for Gateway G spiffe://<td>/ns/N/sa/gateway-G (the identities
// `trellis up` provisions). The trust domain was checked when the certificate was verified.
import { parseWorkloadId } from '../security/spiffe.js';

export interface Claim {
  readonly namespace: string;
  /** The Service (sidecars), absent for gateways and proxyless clients. */
  readonly service?: string | undefined;
  readonly gateway?: string | undefined;
}

/** The service account a claim needs; undefined when any identity of the namespace will do. */
export function expectedServiceAccount(c: Claim): string | undefined {
  if (c.gateway) return `gateway-${c.gateway}`;
  if (c.service) return c.service;
  return undefined;
}

/** A reason to refuse, or undefined when `spiffeId` may make `claim`. */
export function identityMismatch(spiffeId: string, c: Claim): string | undefined {
  let ns: string;
  let sa: string;
  try {
    const id = parseWorkloadId(spiffeId, 'peer');
    ns = id.namespace;
    sa = id.serviceAccount;
  } catch (e) {
    return `the client certificate's SPIFFE ID is not a workload identity: ${(e as Error).message}`;
  }
  const want = expectedServiceAccount(c);
  if (ns !== c.namespace || (want !== undefined && sa !== want)) {
    const what = c.gateway
      ? `Gateway ${c.namespace}/${c.gateway} (identity .../ns/${c.namespace}/sa/${want ?? ''})`
      : c.service
        ? `Service ${c.namespace}/${c.service} (identity .../ns/${c.namespace}/sa/${want ?? ''})`
        : `namespace ${c.namespace}`;
    return `the client certificate is ${spiffeId}; it may not act for ${what}`;
  }
  return undefined;
}
