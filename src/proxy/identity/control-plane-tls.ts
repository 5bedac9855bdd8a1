// TLS from the sidecar to the control plane (`--ca-bundle`): xDS (HTTP/2 over ../h2wire) and the API calls
// (registration, certificates, trust bundle) verify the control plane's certificate against the
// mesh CA's roots and require its SPIFFE ID (spiffe://<td>/ns/trellis-system/sa/control-plane)
// instead of a host name. Once the sidecar holds a workload certificate it presents it (mTLS) on
// new connections, so the control plane knows which identity is asking; before that only the
// bootstrap calls (the certificate request, the trust-bundle watch) are served, which is why
// `trellis proxy` opens its xDS stream once the first certificate is held. The roots trusted are the
// bundle file's plus the latest bundle the identity watch brought (a root rotation), so a sidecar
// keeps reaching a control plane whose serving certificate moved to a new root.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { errorMessage, TrellisError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseCertInfo } from '../../security/cert-info.js';
import { pemBlocks, toPem } from '../../security/der.js';
import { PeerVerifier } from '../../security/workload-identity.js';
import { netFetch } from '../main/http-fetch.js';
import type { IdentityFetch, IdentityProvider } from './sidecar-identity.js';

/** The control plane's SPIFFE ID path (its trust domain is the mesh's). */
export const CONTROL_PLANE_ID_PATH = '/ns/trellis-system/sa/control-plane';

/** TLS verification failures that mean "this is not the control plane of the bundle you gave". */
const TRUST_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TRELLIS_PEER_IDENTITY',
]);

/** A readable reason for a failed TLS connection to the control plane (with what to check). */
export function explainTlsError(e: unknown, bundleFile: string): string {
  // An HTTP/2 stream cancelled by a failed handshake carries the TLS error as its cause.
  const cause = (e as { cause?: unknown }).cause;
  const inner = cause instanceof Error ? cause : e;
  const code = (inner as { code?: string }).code ?? (e as { code?: string }).code;
  const msg = errorMessage(inner);
  if (code !== undefined && TRUST_CODES.has(code))
    return `the control plane's certificate is not trusted (${code}: ${msg}): is ${bundleFile} the trust bundle of this control plane's CA?`;
  if (code === 'ECONNRESET' || code === 'EPROTO' || /wrong version number|packet length too long/i.test(msg))
    return `TLS to the control plane failed (${code ?? msg}): is the address its TLS port (--secure-port, 15012), not a plaintext one?`;
  return msg;
}

function trustDomainsOf(bundlePem: string): string[] {
  const out = new Set<string>();
  for (const der of pemBlocks(bundlePem, 'CERTIFICATE')) {
    try {
      for (const u of parseCertInfo(der).uriSans) {
        const m = /^spiffe:\/\/([^/]+)$/.exec(u);
        if (m?.[1]) out.add(m[1]);
      }
    } catch {
      /* a root we cannot parse adds no trust domain */
    }
  }
  return [...out];
}

/** Every root of `a` and `b`, once. */
function mergeBundles(a: string, b: string | undefined): string {
  if (b === undefined) return a;
  const seen = new Set<string>();
  let out = '';
  for (const der of [...pemBlocks(a, 'CERTIFICATE'), ...pemBlocks(b, 'CERTIFICATE')]) {
    const k = der.toString('base64');
    if (seen.has(k)) continue;
    seen.add(k);
    out += toPem('CERTIFICATE', der);
  }
  return out;
}

interface Material {
  readonly ca: string;
  readonly key?: string;
  readonly cert?: string;
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  readonly agent: Agent;
}

export class ControlPlaneTls {
  private material: Material;
  private readonly log: Logger;

  static fromFile(file: string, logger: Logger): ControlPlaneTls {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (e) {
      throw new TrellisError('BAD_REQUEST', `--ca-bundle: cannot read '${file}': ${errorMessage(e)}`);
    }
    if (pemBlocks(pem, 'CERTIFICATE').length === 0)
      throw new TrellisError(
        'BAD_REQUEST',
        `--ca-bundle: '${file}' holds no PEM CERTIFICATE; it must be the mesh CA's roots ('trellis certs -o json' trustBundlePem, or GET /api/v1/trust-bundle?format=pem)`,
      );
    return new ControlPlaneTls(pem, file, logger);
  }

  constructor(
    private readonly bundlePem: string,
    readonly bundleFile: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'control-plane-tls' });
    this.material = this.make(undefined);
    const tds = trustDomainsOf(bundlePem);
    this.log.info(
      {
        caBundle: bundleFile,
        roots: pemBlocks(bundlePem, 'CERTIFICATE').length,
        expect:
          tds.length > 0
            ? tds.map((td) => `spiffe://${td}${CONTROL_PLANE_ID_PATH}`)
            : `spiffe://*${CONTROL_PLANE_ID_PATH}`,
      },
      'TLS to the control plane',
    );
  }

  /** From now on, present the identity's certificate and trust its bundle too. */
  useIdentity(identity: IdentityProvider): void {
    identity.onChange(() => {
      const old = this.material;
      this.material = this.make(identity);
      // Idle keep-alive sockets go now; a request in flight finishes on its socket.
      setTimeout(() => old.agent.destroy(), 30_000).unref();
    });
    if (identity.current()) this.material = this.make(identity);
  }

  private make(identity: IdentityProvider | undefined): Material {
    const m = identity?.current();
    const ca = mergeBundles(this.bundlePem, m?.trustBundlePem);
    const tds = trustDomainsOf(ca);
    const verifier = new PeerVerifier(ca, tds.length === 1 ? { trustDomain: tds[0] as string } : {});
    const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      const r = verifier.verify(cert, null, 'server');
      let why: string | undefined;
      if (!r.ok) why = r.error;
      else if (!r.value.spiffeId.endsWith(CONTROL_PLANE_ID_PATH))
        why = `the server is ${r.value.spiffeId}, not the control plane (spiffe://<trust domain>${CONTROL_PLANE_ID_PATH})`;
      if (why === undefined) return undefined;
      const e = new Error(`control plane identity rejected: ${why}`) as Error & { code: string };
      e.code = 'ERR_TRELLIS_PEER_IDENTITY';
      return e;
    };
    const client = m ? { key: m.keyPem, cert: m.certChainPem } : {};
    return {
      ca,
      ...client,
      checkServerIdentity,
      agent: new Agent({
        keepAlive: true,
        maxSockets: 8,
        // Full handshakes only: the control plane verifies the client chain at each one.
        maxCachedSessions: 0,
        ca,
        ...client,
        checkServerIdentity,
        minVersion: 'TLSv1.2',
      }),
    };
  }

  /** TLS options for the xDS connection (ALPN h2), with the client certificate in force. */
  h2Options(): ConnectionOptions {
    const m = this.material;
    return {
      ca: m.ca,
      ...(m.key !== undefined ? { key: m.key, cert: m.cert } : {}),
      checkServerIdentity: m.checkServerIdentity,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
    };
  }

  /** A fetch over HTTPS with the control plane checks (for the registrar and the identity). */
  readonly fetch: IdentityFetch = (url, init) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      if (u.protocol !== 'https:') {
        // A plaintext --api on loopback (allowed by the bootstrap): one exchange on a net socket
        // (not the global fetch, whose bundled undici costs ~11 MB of RSS on first use).
        netFetch(url, init).then(resolve, reject);
        return;
      }
      const body = init.body === undefined ? undefined : Buffer.from(init.body);
      const req = request(
        u,
        {
          method: init.method,
          agent: this.material.agent,
          headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, text: () => Promise.resolve(text) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (e) => reject(new Error(explainTlsError(e, this.bundleFile))));
      req.end(body);
    });
}
