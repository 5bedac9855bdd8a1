// The CA's HTTP endpoints: workload certificates (a bootstrap token as Bearer + a PEM CSR in, the
// chain and trust bundle out), the trust bundle (with a long-poll watch), bootstrap tokens and
// rotation (the admin token, see admin-auth.ts, and loopback callers only), and the list of issued
// identities. Tokens never reach a log or an error message.
import { isIP } from 'node:net';
import { parseDurationMs, DURATION_HINT } from '../../api/duration.js';
import { TrellisError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { MAX_CSR_BYTES } from '../../security/ca.js';
import type { CaService } from '../ca/ca-service.js';
import { bearerToken } from './admin-auth.js';
import { errorReply, type Reply, type Request, type Router } from './router.js';

/** Largest CSR request body accepted (a PEM CSR is far smaller; the CA also checks the DER). */
export const MAX_CSR_BODY_BYTES = MAX_CSR_BYTES;
/** Header a sidecar names itself with (its node id), shown by `trellis certs`. */
export const NODE_ID_HEADER = 'x-trellis-node-id';
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

function unauthorized(message: string): Reply {
  return {
    status: 401,
    headers: { 'www-authenticate': 'Bearer realm="trellis"' },
    body: { error: { code: 'UNAUTHENTICATED', message } },
  };
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(addr: string): boolean {
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

function requireLoopback(req: Request, what: string): void {
  if (!isLoopback(req.remoteAddress))
    throw new TrellisError(
      'BAD_REQUEST',
      `${what} is an admin call, accepted from loopback only (it returns or changes key material over plaintext HTTP); run it on the control plane's host`,
    );
}

const bearer = (req: Request): string | undefined => bearerToken(req.headers);

async function jsonBody(req: Request, max = 64 * 1024): Promise<Record<string, unknown>> {
  const text = await req.body(max);
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new TrellisError('BAD_REQUEST', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new TrellisError('BAD_REQUEST', 'request body must be a JSON object');
  return data as Record<string, unknown>;
}

/** A duration field: a GEP-2257 string ("24h", "90s") or a number of seconds. */
export function durationField(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v * 1000;
  if (typeof v === 'string') {
    const ms = parseDurationMs(v);
    if (ms !== undefined) return ms;
  }
  throw new TrellisError(
    'BAD_REQUEST',
    `${field}: must be ${DURATION_HINT}, or seconds as a number; got ${JSON.stringify(v)}`,
    {
      field,
    },
  );
}

function stringField(body: Record<string, unknown>, field: string, dflt?: string): string {
  const v = body[field] ?? dflt;
  if (typeof v !== 'string' || v === '')
    throw new TrellisError('BAD_REQUEST', `${field}: must be a non-empty string, got ${JSON.stringify(v)}`, {
      field,
    });
  return v;
}

export function registerCaRoutes(r: Router, ca: CaService, logger: Logger): void {
  const log = logger.child({ component: 'ca-api' });

  r.on('POST', '/api/v1/certificates', async (req) => {
    const token = bearer(req);
    if (token === undefined)
      return unauthorized('a bootstrap token is required: send "Authorization: Bearer <token>"');
    const claims = ca.verifyToken(token);
    if (!claims.ok) {
      log.warn({ reason: claims.error }, 'certificate request refused: bad bootstrap token');
      return unauthorized(claims.error);
    }
    const nodeHeader = req.headers[NODE_ID_HEADER];
    const instance = typeof nodeHeader === 'string' && nodeHeader !== '' ? nodeHeader : undefined;
    if (instance !== undefined && !NODE_ID.test(instance))
      throw new TrellisError(
        'BAD_REQUEST',
        `${NODE_ID_HEADER}: must be letters, digits and '.', '_', ':', '-' (at most 253), got ${JSON.stringify(instance.slice(0, 80))}`,
      );
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_CSR_BODY_BYTES) return tooLarge(declared);
    let csr: string;
    try {
      csr = await req.body(MAX_CSR_BODY_BYTES);
    } catch (e) {
      if (e instanceof TrellisError && /larger than/.test(e.message)) return tooLarge(undefined);
      throw e;
    }
    const issued = await ca.sign(csr, claims.value, instance);
    return { status: 200, body: issued };
  });

  r.on('GET', '/api/v1/certificates', () => ({ status: 200, body: ca.report() }));

  r.on('GET', '/api/v1/trust-bundle', async (req) => {
    const wait = req.query.get('wait');
    const timeoutRaw = req.query.get('timeout');
    const timeoutMs = timeoutRaw === null ? 25_000 : Number(timeoutRaw) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new TrellisError(
        'BAD_REQUEST',
        `timeout: must be seconds (0-30), got ${JSON.stringify(timeoutRaw)}`,
      );
    const b = wait === null ? ca.bundle() : await ca.watchBundle(wait, timeoutMs);
    if (req.query.get('format') === 'pem')
      return {
        status: 200,
        headers: { etag: `"${b.etag}"` },
        raw: { contentType: 'application/x-pem-file', text: b.trustBundlePem },
      };
    return { status: 200, headers: { etag: `"${b.etag}"` }, body: b };
  });

  r.on('POST', '/api/v1/tokens', async (req) => {
    requireLoopback(req, 'POST /api/v1/tokens');
    const body = await jsonBody(req);
    const namespace = stringField(body, 'namespace', 'default');
    const serviceAccount = stringField(body, 'serviceAccount');
    const ttlMs = durationField(body['ttl'], 'ttl');
    const token = ca.issueToken({ namespace, serviceAccount, ...(ttlMs !== undefined ? { ttlMs } : {}) });
    const c = token.claims!;
    return {
      status: 200,
      body: {
        token: token.reveal(),
        tokenId: c.tokenId,
        spiffeId: c.identity.uri,
        expiresAt: c.expiresAt.toISOString(),
      },
    };
  });

  r.on('POST', '/api/v1/ca/rotate', async (req) => {
    requireLoopback(req, 'POST /api/v1/ca/rotate');
    const body = await jsonBody(req);
    if (body['root'] !== undefined && typeof body['root'] !== 'boolean')
      throw new TrellisError(
        'BAD_REQUEST',
        `root: must be true or false, got ${JSON.stringify(body['root'])}`,
      );
    if (body['root'] === true) {
      const overlapMs = durationField(body['overlap'], 'overlap') ?? 24 * 3_600_000;
      const distributeMs = durationField(body['distribute'], 'distribute');
      const rotation = await ca.rotateRoot({
        overlapMs,
        ...(distributeMs !== undefined ? { distributeMs } : {}),
      });
      return { status: 200, body: { rotated: 'root', rotation } };
    }
    if (body['overlap'] !== undefined)
      throw new TrellisError(
        'BAD_REQUEST',
        'overlap: applies to a root rotation only ({"root": true}); a new intermediate chains to the same root, so no overlap is needed',
      );
    const out = await ca.rotateIntermediate();
    return { status: 200, body: { rotated: 'intermediate', ...out } };
  });
}

function tooLarge(size: number | undefined): Reply {
  const r = errorReply(
    'BAD_REQUEST',
    `the CSR body is ${size === undefined ? 'too large' : `${size} bytes`}; at most ${MAX_CSR_BODY_BYTES} bytes are accepted`,
  );
  return { ...r, status: 413 };
}
