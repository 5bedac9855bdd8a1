// Decodes the TLS parts of xDS that Trellis uses for mesh mTLS: a listener chain's transport_socket
// (DownstreamTlsContext), a cluster's transport_socket_matches (UpstreamTlsContext per endpoint
// metadata) and the endpoint metadata they match on. Certificates are named by SDS secret names
// that the proxy resolves from its own workload identity (`default`: its key and chain; `ROOTCA`:
// the trust bundle), never from the control plane. Anything else is refused with its path.
import {
  type Json,
  arr,
  fail,
  isObj,
  join,
  objList,
  optBool,
  optObj,
  optStr,
  reqObj,
  reqStr,
} from './read.js';
import type { PassthroughListenerTlsConfig } from './decode-gateway-passthrough.js';

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
export const DOWNSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
/** Endpoint metadata namespace that transport_socket_matches look at (Envoy's). */
export const TLS_MATCH_METADATA = 'envoy.transport_socket_match';
/** The SDS secret names the proxy provides from its workload identity. */
export const CERT_SECRET = 'default';
export const ROOTCA_SECRET = 'ROOTCA';
const SECRETS = [CERT_SECRET, ROOTCA_SECRET];

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** What both sides share: secret names, ALPN, protocol versions. */
export interface CommonTlsConfig {
  /** SDS name of the proxy's own certificate (always `default`). */
  readonly certSecret: string;
  /** SDS name of the trust bundle peers are verified against (always `ROOTCA`). */
  readonly validationSecret: string;
  /** ALPN protocols offered (client) or accepted (server), in preference order. */
  readonly alpn: readonly string[];
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
}

/** A listener's TLS termination: the peer must present a certificate from the trust bundle. */
export type DownstreamTlsConfig = CommonTlsConfig;

/** A connection to an endpoint: TLS with the client certificate, the server must be `expectedSan`. */
export interface UpstreamTlsConfig extends CommonTlsConfig {
  /** The exact URI SAN (SPIFFE ID) the server must present. */
  readonly expectedSan: string;
}

/** One of a cluster's transport_socket_matches: endpoints whose metadata has every pair get `tls`. */
export interface TransportSocketMatch {
  readonly name: string;
  readonly match: Readonly<Record<string, string>>;
  /** Absent: plaintext (raw_buffer). */
  readonly tls?: UpstreamTlsConfig;
}

/**
 * A listener with mTLS. `strict`: every connection must be TLS (plaintext is refused);
 * `permissive`: TLS is terminated, other connections are handled as the plaintext chains say.
 * `inner`: what runs over the decrypted stream (the HCM, or tcp_proxy).
 */
export interface MeshListenerTlsConfig {
  readonly mode: 'strict' | 'permissive';
  readonly inner: 'http' | 'tcp';
  readonly tls: DownstreamTlsConfig;
}

/**
 * An ingress gateway's HTTPS port (decode-gateway-tls.ts): TLS only, terminated with the
 * certificate of the chain the SNI picks (no client certificate), then the HCM.
 */
export interface GatewayListenerTlsConfig {
  readonly mode: 'terminate';
  readonly inner: 'http';
  /** Chains with server_names first, in order; at most one without (the default). */
  readonly chains: readonly ServerTlsChain[];
}

/** One TLS filter chain of a gateway port. */
export interface ServerTlsChain {
  readonly name: string;
  /** Lower-cased; exact or `*.suffix`; empty: the default chain. */
  readonly serverNames: readonly string[];
  /** The SDS secret (a certificate and key from the control plane). */
  readonly certSecret: string;
  /**
   * Client certificates required and verified against these PEM CAs (inline validation_context,
   * decode-gateway-tls.ts); '' refuses every client; absent: none asked for.
   */
  readonly clientCa?: string;
  readonly alpn: readonly string[];
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
}

export type ListenerTlsConfig =
  MeshListenerTlsConfig | GatewayListenerTlsConfig | PassthroughListenerTlsConfig;

/** An SDS Secret with a certificate (tls_certificate): PEM chain (leaf first) and key. */
export interface TlsSecretConfig {
  readonly name: string;
  readonly certificateChain: string;
  readonly privateKey: string;
}

const VERSIONS: Readonly<Record<string, TlsVersion | 'auto'>> = {
  TLS_AUTO: 'auto',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};
const VERSION_NUMBERS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'];

export function onlyKeys(o: Json, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k) && o[k] !== undefined && o[k] !== null && k !== '@type')
      fail(join(path, k), `not supported (supported here: ${allowed.join(', ')})`);
}

function tlsVersion(o: Json, key: string, path: string, dflt: TlsVersion): TlsVersion {
  let v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') v = VERSION_NUMBERS[v];
  const got = typeof v === 'string' ? VERSIONS[v] : undefined;
  if (got === undefined)
    return fail(join(path, key), `supported: TLS_AUTO, TLSv1_2, TLSv1_3 (got ${JSON.stringify(v)})`);
  return got === 'auto' ? dflt : got;
}

/** A CommonTlsContext's tls_params (at `cp`): the TLS versions, 1.2 to 1.3 by default. */
export function tlsParams(c: Json, cp: string): { minVersion: TlsVersion; maxVersion: TlsVersion } {
  const params = optObj(c, 'tls_params', cp) ?? {};
  const pp = join(cp, 'tls_params');
  onlyKeys(params, ['tls_minimum_protocol_version', 'tls_maximum_protocol_version'], pp);
  const minVersion = tlsVersion(params, 'tls_minimum_protocol_version', pp, 'TLSv1.2');
  const maxVersion = tlsVersion(params, 'tls_maximum_protocol_version', pp, 'TLSv1.3');
  if (minVersion === 'TLSv1.3' && maxVersion === 'TLSv1.2')
    fail(pp, 'tls_minimum_protocol_version is above tls_maximum_protocol_version');
  return { minVersion, maxVersion };
}

function secretName(o: Json, path: string): string {
  onlyKeys(o, ['name', 'sds_config'], path);
  const name = reqStr(o, 'name', path);
  if (!SECRETS.includes(name))
    fail(
      join(path, 'name'),
      `unknown secret "${name}": the proxy provides "${CERT_SECRET}" (its workload certificate) and "${ROOTCA_SECRET}" (the trust bundle)`,
    );
  return name;
}

interface Common extends CommonTlsConfig {
  readonly san?: string;
}

function commonTls(ctx: Json, path: string): Common {
  const cp = join(path, 'common_tls_context');
  const c = reqObj(ctx, 'common_tls_context', path);
  onlyKeys(
    c,
    ['tls_params', 'alpn_protocols', 'tls_certificate_sds_secret_configs', 'combined_validation_context'],
    cp,
  );
  const { minVersion, maxVersion } = tlsParams(c, cp);
  const alpn = arr(c, 'alpn_protocols', cp).map((v, i) =>
    typeof v === 'string' && v !== ''
      ? v
      : fail(join(join(cp, 'alpn_protocols'), i), 'expected a protocol name'),
  );
  const certs = objList(c, 'tls_certificate_sds_secret_configs', cp);
  if (certs.length !== 1)
    fail(join(cp, 'tls_certificate_sds_secret_configs'), `exactly one secret ("${CERT_SECRET}") is required`);
  const [certCfg, certPath] = certs[0] as [Json, string];
  const certSecret = secretName(certCfg, certPath);
  if (certSecret !== CERT_SECRET) fail(join(certPath, 'name'), `the certificate secret is "${CERT_SECRET}"`);
  const vp = join(cp, 'combined_validation_context');
  const v = reqObj(c, 'combined_validation_context', cp);
  onlyKeys(v, ['default_validation_context', 'validation_context_sds_secret_config'], vp);
  const validationSecret = secretName(
    reqObj(v, 'validation_context_sds_secret_config', vp),
    join(vp, 'validation_context_sds_secret_config'),
  );
  if (validationSecret !== ROOTCA_SECRET)
    fail(
      join(vp, 'validation_context_sds_secret_config.name'),
      `the validation secret is "${ROOTCA_SECRET}"`,
    );
  const dvp = join(vp, 'default_validation_context');
  const dv = optObj(v, 'default_validation_context', vp) ?? {};
  onlyKeys(dv, ['match_typed_subject_alt_names'], dvp);
  const sans = objList(dv, 'match_typed_subject_alt_names', dvp);
  let san: string | undefined;
  if (sans.length > 1)
    fail(join(dvp, 'match_typed_subject_alt_names'), 'at most one SAN matcher is supported');
  if (sans.length === 1) {
    const [m, mp] = sans[0] as [Json, string];
    onlyKeys(m, ['san_type', 'matcher'], mp);
    const type = m['san_type'];
    if (type !== 'URI' && type !== 3) fail(join(mp, 'san_type'), 'only URI (a SPIFFE ID) is supported');
    const matcher = reqObj(m, 'matcher', mp);
    onlyKeys(matcher, ['exact'], join(mp, 'matcher'));
    san = reqStr(matcher, 'exact', join(mp, 'matcher'));
    if (!san.startsWith('spiffe://')) fail(join(mp, 'matcher.exact'), 'expected a spiffe:// ID');
  }
  return {
    certSecret,
    validationSecret,
    alpn,
    minVersion,
    maxVersion,
    ...(san !== undefined ? { san } : {}),
  };
}

/** A transport_socket: `undefined` for raw_buffer, else the TLS context of `want` type. */
function transportSocket(ts: Json, path: string, want: string): Json | undefined {
  onlyKeys(ts, ['name', 'typed_config'], path);
  const tc = optObj(ts, 'typed_config', path);
  const name = optStr(ts, 'name', path);
  if (tc === undefined) {
    if (name === 'envoy.transport_sockets.raw_buffer') return undefined;
    return fail(join(path, 'typed_config'), 'required');
  }
  const t = tc['@type'];
  if (t === 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer')
    return undefined;
  if (t !== want) fail(join(path, 'typed_config'), `supported: ${want} or raw_buffer (got ${String(t)})`);
  return tc;
}

/** Whether a DownstreamTlsContext requires client certificates (a bool or a BoolValue). */
export function requiresClientCertificate(tc: Json): boolean {
  const req = tc['require_client_certificate'];
  return isObj(req) ? req['value'] === true : req === true;
}

/** Checks the keys of a DownstreamTlsContext (at `tp`); whether it requires client certificates. */
export function downstreamTlsContext(tc: Json, tp: string): boolean {
  onlyKeys(
    tc,
    [
      'common_tls_context',
      'require_client_certificate',
      'disable_stateless_session_resumption',
      'disable_stateful_session_resumption',
    ],
    tp,
  );
  return requiresClientCertificate(tc);
}

/** A filter chain's transport_socket: a DownstreamTlsContext that requires client certificates. */
export function decodeDownstreamTls(ts: Json, path: string): DownstreamTlsConfig | undefined {
  const tc = transportSocket(ts, path, DOWNSTREAM_TLS_TYPE);
  if (tc === undefined) return undefined;
  const tp = join(path, 'typed_config');
  if (!downstreamTlsContext(tc, tp))
    fail(
      join(tp, 'require_client_certificate'),
      'must be true: mesh TLS is mutual (peers present their certificate)',
    );
  if (optBool(tc, 'disable_stateless_session_resumption', tp) === false)
    fail(join(tp, 'disable_stateless_session_resumption'), 'session resumption is never offered');
  const c = commonTls(tc, tp);
  if (c.san !== undefined)
    fail(
      join(tp, 'common_tls_context.combined_validation_context.default_validation_context'),
      'a listener accepts any SPIFFE ID of the trust domain (authorization decides); SAN matchers are not supported here',
    );
  return {
    certSecret: c.certSecret,
    validationSecret: c.validationSecret,
    alpn: c.alpn,
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
  };
}

function decodeUpstreamTls(ts: Json, path: string): UpstreamTlsConfig | undefined {
  const tc = transportSocket(ts, path, UPSTREAM_TLS_TYPE);
  if (tc === undefined) return undefined;
  const tp = join(path, 'typed_config');
  onlyKeys(tc, ['common_tls_context', 'sni'], tp);
  const c = commonTls(tc, tp);
  if (c.san === undefined)
    fail(
      join(
        tp,
        'common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names',
      ),
      "required: the server's SPIFFE ID (a certificate from the mesh CA alone is not enough)",
    );
  return {
    certSecret: c.certSecret,
    validationSecret: c.validationSecret,
    alpn: c.alpn,
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
    expectedSan: c.san,
  };
}

/** A cluster's transport_socket_matches (empty when absent); a plain transport_socket is refused. */
export function decodeTransportSocketMatches(c: Json): readonly TransportSocketMatch[] {
  if (c['transport_socket'] !== undefined && c['transport_socket'] !== null) {
    const tls = decodeUpstreamTls(reqObj(c, 'transport_socket', ''), 'transport_socket');
    if (tls !== undefined) return [{ name: 'transport_socket', match: {}, tls }];
  }
  return objList(c, 'transport_socket_matches', '').map(([m, mp]) => {
    onlyKeys(m, ['name', 'match', 'transport_socket'], mp);
    const name = reqStr(m, 'name', mp);
    const match: Record<string, string> = {};
    for (const [k, v] of Object.entries(optObj(m, 'match', mp) ?? {})) {
      if (typeof v !== 'string') fail(join(join(mp, 'match'), k), 'only string values are supported');
      match[k] = v;
    }
    const tls = decodeUpstreamTls(reqObj(m, 'transport_socket', mp), join(mp, 'transport_socket'));
    return { name, match, ...(tls !== undefined ? { tls } : {}) };
  });
}

/** An lb_endpoint's `metadata.filter_metadata["envoy.transport_socket_match"]` string pairs. */
export function tlsMatchMetadata(lb: Json, path: string): Readonly<Record<string, string>> | undefined {
  const md = optObj(lb, 'metadata', path);
  const fm = md && optObj(md, 'filter_metadata', join(path, 'metadata'));
  const src = fm?.[TLS_MATCH_METADATA];
  if (!isObj(src)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(src)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The TLS an endpoint gets: the first match whose pairs all appear in its metadata. */
export function upstreamTlsFor(
  matches: readonly TransportSocketMatch[] | undefined,
  metadata: Readonly<Record<string, string>> | undefined,
): UpstreamTlsConfig | undefined {
  if (matches === undefined) return undefined;
  for (const m of matches) {
    let ok = true;
    for (const k in m.match) if (metadata?.[k] !== m.match[k]) ok = false;
    if (ok) return m.tls;
  }
  return undefined;
}
