// Decodes an ingress gateway's HTTPS listener (server-side TLS, no client certificates): filter
// chains matching transport_protocol "tls" and optionally server_names (SNI), each with a
// DownstreamTlsContext naming one SDS certificate (over ADS), ALPN and TLS versions, all running the
// same HTTP connection manager. And SDS Secrets with a tls_certificate (inline PEM chain and key).
// Mesh mTLS listeners (client certificates required, the proxy's own `default` identity) stay
// decode-tls.ts's.
import {
  DOWNSTREAM_TLS_TYPE,
  downstreamTlsContext,
  type GatewayListenerTlsConfig,
  type ServerTlsChain,
  type TlsSecretConfig,
  onlyKeys,
  requiresClientCertificate,
  tlsParams,
} from './decode-tls.js';
import { type Json, arr, fail, isObj, join, objList, optObj, optStr, reqObj, reqStr } from './read.js';

/**
 * True when a listener's chains terminate TLS without validating clients (a gateway's HTTPS port):
 * a DownstreamTlsContext with neither require_client_certificate nor a validation context. Mesh
 * mTLS chains always have both (and are decode-tls.ts's, which refuses them without).
 */
export function isServerTlsListener(chains: readonly [Json, string][]): boolean {
  return chains.some(([c]) => {
    const ts = c['transport_socket'];
    if (!isObj(ts)) return false;
    const tc = ts['typed_config'];
    if (!isObj(tc) || tc['@type'] !== DOWNSTREAM_TLS_TYPE) return false;
    const cc = tc['common_tls_context'];
    // Mesh mTLS validates with combined_validation_context (ROOTCA over SDS); a gateway port that
    // verifies client certificates has an inline validation_context (GEP-91).
    if (isObj(cc) && cc['combined_validation_context'] !== undefined) return false;
    return !requiresClientCertificate(tc) || (isObj(cc) && isObj(cc['validation_context']));
  });
}

const SERVER_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function serverNames(m: Json, mp: string): string[] {
  return arr(m, 'server_names', mp).map((v, i) => {
    const n = typeof v === 'string' ? v.toLowerCase() : '';
    if (!SERVER_NAME.test(n)) fail(join(join(mp, 'server_names'), i), 'expected a hostname or *.suffix');
    return n;
  });
}

/** An inline validation_context's trusted_ca (PEM; may be empty: nobody is trusted), or undefined. */
function trustedCa(cc: Json, cctx: string): string | undefined {
  const vc = optObj(cc, 'validation_context', cctx);
  if (vc === undefined) return undefined;
  const vp = join(cctx, 'validation_context');
  onlyKeys(vc, ['trusted_ca'], vp);
  const ds = reqObj(vc, 'trusted_ca', vp);
  const dp = join(vp, 'trusted_ca');
  onlyKeys(ds, ['inline_string', 'inline_bytes'], dp);
  const str = optStr(ds, 'inline_string', dp);
  const bytes = ds['inline_bytes'];
  const pem =
    str ??
    (typeof bytes === 'string'
      ? Buffer.from(bytes, 'base64').toString('utf8')
      : bytes instanceof Uint8Array
        ? Buffer.from(bytes).toString('utf8')
        : fail(dp, 'inline_string or inline_bytes is required (files are not read)'));
  if (pem.trim() !== '' && !pem.includes('-----BEGIN CERTIFICATE-----'))
    fail(dp, 'expected PEM CA certificates');
  return pem;
}

/**
 * One ServerTlsChain per SDS certificate of the chain (same name and server names, in order): the
 * handshake picks among them by the SNI and the certificates' SANs (gateway-tls.ts), and each
 * names its secret, so the SDS subscription covers them all.
 */
function chainTls(c: Json, cp: string, name: string, names: readonly string[]): ServerTlsChain[] {
  const tsp = join(cp, 'transport_socket');
  const ts = reqObj(c, 'transport_socket', cp);
  onlyKeys(ts, ['name', 'typed_config'], tsp);
  const tp = join(tsp, 'typed_config');
  const tc = reqObj(ts, 'typed_config', tsp);
  if (tc['@type'] !== DOWNSTREAM_TLS_TYPE) fail(tp, `expected ${DOWNSTREAM_TLS_TYPE}`);
  const requires = downstreamTlsContext(tc, tp);
  const cctx = join(tp, 'common_tls_context');
  const cc = reqObj(tc, 'common_tls_context', tp);
  onlyKeys(
    cc,
    ['tls_params', 'alpn_protocols', 'tls_certificate_sds_secret_configs', 'validation_context'],
    cctx,
  );
  const clientCa = trustedCa(cc, cctx);
  if (requires && clientCa === undefined)
    fail(
      join(tp, 'require_client_certificate'),
      'client certificates need common_tls_context.validation_context.trusted_ca (the CAs to verify them against)',
    );
  if (!requires && clientCa !== undefined)
    fail(
      join(cctx, 'validation_context'),
      'a validation_context needs require_client_certificate: true (optional client certificates are not supported)',
    );
  const { minVersion, maxVersion } = tlsParams(cc, cctx);
  const alpn = arr(cc, 'alpn_protocols', cctx).map((v, i) =>
    v === 'h2' || v === 'http/1.1'
      ? v
      : fail(join(join(cctx, 'alpn_protocols'), i), 'supported: h2, http/1.1'),
  );
  const certs = objList(cc, 'tls_certificate_sds_secret_configs', cctx);
  if (certs.length === 0)
    fail(join(cctx, 'tls_certificate_sds_secret_configs'), 'at least one SDS certificate is required');
  return certs.map(([cert, certPath]) => {
    onlyKeys(cert, ['name', 'sds_config'], certPath);
    const sds = reqObj(cert, 'sds_config', certPath);
    if (optObj(sds, 'ads', join(certPath, 'sds_config')) === undefined)
      fail(join(certPath, 'sds_config'), 'only ads config sources are supported');
    return {
      name,
      serverNames: names,
      certSecret: reqStr(cert, 'name', certPath),
      ...(clientCa !== undefined && { clientCa }),
      alpn: alpn.length > 0 ? alpn : ['http/1.1'],
      minVersion,
      maxVersion,
    };
  });
}

/**
 * The TLS part of a gateway HTTPS listener, and the one plaintext-shaped chain (the HCM) that
 * decodeChains decodes. Every chain must be TLS and run the same network filters.
 */
export function decodeServerTls(
  chains: readonly [Json, string][],
  listener: Json,
): { tls: GatewayListenerTlsConfig; inner: [Json, string] } {
  if (optObj(listener, 'default_filter_chain', '') !== undefined)
    fail('default_filter_chain', 'an HTTPS listener has TLS chains only');
  const out: ServerTlsChain[] = [];
  let filters: string | undefined;
  let defaults = 0;
  for (const [ci, [c, cp]] of chains.entries()) {
    const mp = join(cp, 'filter_chain_match');
    const m = reqObj(c, 'filter_chain_match', cp);
    onlyKeys(m, ['transport_protocol', 'server_names'], mp);
    if (m['transport_protocol'] !== 'tls')
      fail(join(mp, 'transport_protocol'), 'must be "tls": an HTTPS listener has TLS chains only');
    const names = serverNames(m, mp);
    if (names.length === 0 && ++defaults > 1)
      fail(mp, 'at most one chain without server_names (the default certificate)');
    const f = JSON.stringify(c['filters']);
    if (filters !== undefined && f !== filters)
      fail(join(cp, 'filters'), 'every TLS chain of a listener must run the same network filter');
    filters = f;
    out.push(...chainTls(c, cp, optStr(c, 'name', cp) ?? `chain${ci}`, names));
  }
  // One port, one client validation (GEP-91 is per port): every chain asks the same.
  if (out.some((c) => c.clientCa !== out[0]?.clientCa))
    fail('filter_chains', 'every TLS chain of a listener must have the same validation_context');
  const [first, fp] = chains[0] as [Json, string];
  const inner: Json = {
    ...first,
    name: undefined,
    filter_chain_match: undefined,
    transport_socket: undefined,
  };
  // Chains with names first (SNI lookup), the default last.
  out.sort((a, b) => (a.serverNames.length === 0 ? 1 : 0) - (b.serverNames.length === 0 ? 1 : 0));
  return { tls: { mode: 'terminate', inner: 'http', chains: out }, inner: [inner, fp] };
}

/**
 * The chain serving an SNI name: exact, then the most specific `*.suffix`, then the default (the
 * chain without server names). Used for terminated and passthrough chains alike. (A terminated
 * chain with several certificates is several entries with one name: this returns the first.)
 */
export function chainForServerName<C extends { readonly serverNames: readonly string[] }>(
  chains: readonly C[],
  servername: string | undefined,
): C | undefined {
  const dflt = chains.find((c) => c.serverNames.length === 0);
  if (servername === undefined || servername === '') return dflt;
  const sni = servername.toLowerCase();
  const exact = chains.find((c) => c.serverNames.includes(sni));
  if (exact !== undefined) return exact;
  for (let i = sni.indexOf('.'); i >= 0; i = sni.indexOf('.', i + 1)) {
    const w = `*${sni.slice(i)}`;
    const hit = chains.find((c) => c.serverNames.includes(w));
    if (hit !== undefined) return hit;
  }
  return dflt;
}

/** An SDS Secret: tls_certificate with inline PEM (strings or bytes); anything else is refused. */
export function decodeTlsSecret(s: Json): TlsSecretConfig {
  const name = reqStr(s, 'name', '');
  onlyKeys(s, ['name', 'tls_certificate'], '');
  const c = reqObj(s, 'tls_certificate', '');
  onlyKeys(c, ['certificate_chain', 'private_key'], 'tls_certificate');
  const pem = (key: string): string => {
    const p = join('tls_certificate', key);
    const ds = reqObj(c, key, 'tls_certificate');
    onlyKeys(ds, ['inline_string', 'inline_bytes'], p);
    const str = optStr(ds, 'inline_string', p);
    if (str !== undefined) return str;
    const bytes = ds['inline_bytes'];
    if (typeof bytes === 'string') return Buffer.from(bytes, 'base64').toString('utf8');
    if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('utf8');
    return fail(p, 'inline_string or inline_bytes is required (files are not read)');
  };
  const certificateChain = pem('certificate_chain');
  const privateKey = pem('private_key');
  if (!certificateChain.includes('-----BEGIN CERTIFICATE-----'))
    fail('tls_certificate.certificate_chain', 'expected a PEM certificate chain');
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey))
    fail('tls_certificate.private_key', 'expected a PEM private key');
  return { name, certificateChain, privateKey };
}
