// Who may register, heartbeat and deregister instances on the control plane's plaintext API
// (loopback). An endpoint registered without identity is reached in plaintext by every client
// sidecar, whatever the Service's mTLS mode, so an anonymous registration would let any local
// process take (and read) a share of a Service's traffic. By default a call needs one of:
//   - the admin token (admin-auth.ts): any instance;
//   - a workload bootstrap token (the ones `trellis token create` / `trellis up` mint, verified as
//     POST /api/v1/certificates verifies them) bound to the identity of the Service registered
//     (spiffe://<td>/ns/N/sa/S for Service N/S): only instances of that identity.
// Anonymous calls are accepted only when the control plane runs with --insecure-registration
// (local plaintext experiments). On the secure port the client certificate decides instead
// (peer-identity.ts). Tokens never reach a log or an error message.
import type { Result } from '../../common/result.js';
import type { TokenClaims } from '../../security/token.js';
import { expectedServiceAccount, type Claim } from '../peer-identity.js';
import { bearerToken, type AdminGuard } from './admin-auth.js';
import type { Reply, Request } from './router.js';

/** The control plane flag that accepts registrations without a credential. */
export const INSECURE_REGISTRATION_FLAG = '--insecure-registration';

/** Who is calling a registration route on the plaintext API. */
export type RegistrationCaller =
  | { readonly kind: 'admin' }
  | {
      readonly kind: 'workload';
      readonly namespace: string;
      readonly serviceAccount: string;
      readonly uri: string;
    }
  | { readonly kind: 'anonymous' };

export interface RegistrationAuthOptions {
  /** The admin token check; absent = the API runs without authentication (tests): all accepted. */
  readonly admin?: AdminGuard;
  /** Verifies a workload bootstrap token (the CA); absent = only the admin token is accepted. */
  readonly verifyToken?: (token: string) => Result<TokenClaims, string>;
  /** Accept calls without a credential (--insecure-registration). */
  readonly insecure?: boolean;
}

const unauthorized = (message: string): Reply => ({
  status: 401,
  headers: { 'www-authenticate': 'Bearer realm="trellis-registration"' },
  body: { error: { code: 'UNAUTHENTICATED', message } },
});

const forbidden = (message: string): Reply => ({
  status: 403,
  body: { error: { code: 'FORBIDDEN', message } },
});

export class RegistrationAuth {
  constructor(private readonly opts: RegistrationAuthOptions) {}

  /** The caller of `what` (e.g. "POST /api/v1/instances"), or the 401 to send. */
  authenticate(req: Pick<Request, 'headers'>, what: string): RegistrationCaller | Reply {
    if (!this.opts.admin) return { kind: 'admin' };
    const token = bearerToken(req.headers);
    if (token === undefined) {
      if (this.opts.insecure) return { kind: 'anonymous' };
      return unauthorized(
        `${what} needs a credential on the control plane's plaintext API: send "Authorization: Bearer <token>" with the workload bootstrap token of the Service's identity ('trellis token create --service NAME [-n NS]'; a sidecar sends its --token-file / TRELLIS_TOKEN, or TRELLIS_REGISTRATION_TOKEN_FILE) or the admin token (${this.opts.admin.where}). For local plaintext experiments only, start the control plane with ${INSECURE_REGISTRATION_FLAG}`,
      );
    }
    if (this.opts.admin.matches(token)) return { kind: 'admin' };
    const claims = this.opts.verifyToken?.(token);
    if (claims === undefined)
      return unauthorized(
        `${what}: the bearer token is not the admin token, and this control plane has no CA to verify workload bootstrap tokens`,
      );
    if (!claims.ok)
      return unauthorized(
        `${what}: the bearer token is neither the admin token nor a valid workload bootstrap token: ${claims.error}`,
      );
    const id = claims.value.identity;
    return { kind: 'workload', namespace: id.namespace, serviceAccount: id.serviceAccount, uri: id.uri };
  }

  /** undefined when `caller` may act for an instance claiming `claim`; else the 403 to send. */
  static authorize(caller: RegistrationCaller, claim: Claim, instanceId?: string): Reply | undefined {
    if (caller.kind !== 'workload') return undefined;
    const want = expectedServiceAccount(claim);
    if (caller.namespace === claim.namespace && want !== undefined && caller.serviceAccount === want)
      return undefined;
    const what = claim.service
      ? `Service ${claim.namespace}/${claim.service} (identity .../ns/${claim.namespace}/sa/${want ?? ''})`
      : `an instance of namespace ${claim.namespace} without a Service`;
    return forbidden(
      `${instanceId !== undefined ? `instance ${instanceId}: ` : ''}the bootstrap token is bound to ${caller.uri}; it may not act for ${what}. Use that Service's token ('trellis token create --service ${claim.service ?? 'NAME'} -n ${claim.namespace}') or the admin token`,
    );
  }
}
