// Outbound mTLS: the dialer a connection pool uses for an endpoint whose cluster's
// transport_socket_matches give it TLS (endpoints registered by a sidecar). Each new connection
// takes the identity in force (rotation: new connections use the new certificate), offers the
// pool's ALPN protocol, and accepts the server only when its chain reaches the trust bundle and
// its certificate names exactly the expected SPIFFE ID. No session is ever offered for resumption.
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { OnReadOpts } from 'node:net';
import { upstreamTlsFor, type UpstreamTlsConfig } from '../config/decode-tls.js';
import type { ClusterConfig, EndpointConfig } from '../config/types.js';
import { ProxyError } from '../pipeline/rescue.js';
import type { MeshTls } from './mesh-tls.js';

/** What a pool calls instead of net.connect for a TLS endpoint. */
export interface UpstreamTlsDialer {
  /** The SPIFFE ID the server must present. */
  readonly expectedId: string;
  /** A connecting TLS socket ('secureConnect' when ready), or why none can be made now. */
  dial(address: string, port: number, onread?: OnReadOpts): TLSSocket | ProxyError;
  /** The error a socket failure before 'secureConnect' becomes. */
  failure(e: NodeJS.ErrnoException, address: string, port: number): ProxyError;
}

const hostPort = (a: string, p: number): string => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);

class Dialer implements UpstreamTlsDialer {
  readonly expectedId: string;
  constructor(
    private readonly mtls: MeshTls,
    private readonly cfg: UpstreamTlsConfig,
    private readonly alpn: readonly string[],
  ) {
    this.expectedId = cfg.expectedSan;
  }

  dial(address: string, port: number, onread?: OnReadOpts): TLSSocket | ProxyError {
    const m = this.mtls.material();
    if (m === undefined) {
      this.mtls.upstreamFailed('no_certificate_yet');
      return new ProxyError(
        'UPSTREAM_CONNECT_FAILED',
        `${this.mtls.noIdentityReason()}; ${hostPort(address, port)} (${this.expectedId}) requires mTLS`,
      );
    }
    const socket = tlsConnect({
      host: address,
      port,
      ...this.mtls.clientOptions(m, this.cfg, this.alpn),
      ...(onread !== undefined ? { onread } : {}),
    });
    socket.setNoDelay(true);
    return socket;
  }

  failure(e: NodeJS.ErrnoException, address: string, port: number): ProxyError {
    const at = hostPort(address, port);
    if (e.code === 'ERR_TRELLIS_PEER_IDENTITY') {
      this.mtls.upstreamFailed('peer_identity');
      return new ProxyError('UPSTREAM_CONNECT_FAILED', `mTLS to ${at}: ${e.message}`);
    }
    if (e.code === 'ECONNREFUSED' || e.code === 'ETIMEDOUT' || e.code === 'EHOSTUNREACH')
      return new ProxyError('UPSTREAM_CONNECT_FAILED', `connect to ${at} failed: ${e.code}`);
    this.mtls.upstreamFailed('handshake_failed');
    return new ProxyError(
      'UPSTREAM_CONNECT_FAILED',
      `mTLS handshake with ${at} (expecting ${this.expectedId}) failed: ${e.code !== undefined ? `${e.code}: ` : ''}${e.message}`,
    );
  }
}

/**
 * The TLS dialer for one endpoint of a cluster, or undefined for plaintext (no match, a match
 * without TLS, or no mTLS runtime). `protocol`: what the pool speaks; ALPN offers only that.
 * `tcp` (tcp_proxy's opaque bytes) offers no ALPN at all: there is no application protocol to
 * agree on, and the server's tcp chain runs tcp_proxy whatever was negotiated.
 */
export function upstreamTlsDialer(
  mtls: MeshTls | undefined,
  cluster: ClusterConfig,
  endpoint: EndpointConfig,
  protocol: 'h2' | 'http/1.1' | 'tcp',
): UpstreamTlsDialer | undefined {
  if (mtls === undefined) return undefined;
  const cfg = upstreamTlsFor(cluster.transportSocketMatches, endpoint.tlsMatch);
  if (cfg === undefined) return undefined;
  const alpn =
    protocol === 'tcp'
      ? []
      : cfg.alpn.length === 0 || cfg.alpn.includes(protocol)
        ? [protocol]
        : [...cfg.alpn];
  return new Dialer(mtls, cfg, alpn);
}
