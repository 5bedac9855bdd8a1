// The data plane's mTLS runtime: TLS contexts built from the sidecar's workload identity (once per
// identity and protocol-version range, so a rotation hot-swaps them: new handshakes take the new
// context, open connections keep theirs), peer verification (SPIFFE ID in the trust domain for
// clients, the exact expected ID for servers) and the counters /stats shows.
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import type { Logger } from '../../common/logger.js';
import { PeerVerifier } from '../../security/workload-identity.js';
import type { CommonTlsConfig, TlsVersion, UpstreamTlsConfig } from '../config/decode-tls.js';
import type { IdentityMaterial, IdentityProvider } from '../identity/sidecar-identity.js';
import type { Counter, MetricFamily, MetricsRegistry } from '../telemetry/metrics.js';
// node:crypto without its ESM namespace, whose getters load webcrypto (docs/sidecar.md "Memory").
const { constants: cryptoConstants } = process.getBuiltinModule('node:crypto');

/** Why an inbound connection was refused (label `reason` of trellis_mtls_refused_total). */
export type RefusedReason =
  'plaintext' | 'no_certificate_yet' | 'handshake_failed' | 'handshake_timeout' | 'peer_identity';

/** At most this many distinct plaintext source addresses get their own series (then `other`). */
const MAX_PLAINTEXT_SOURCES = 256;

/** No session resumption at all: no tickets issued (and clients never offer a session). */
const NO_RESUMPTION = cryptoConstants.SSL_OP_NO_TICKET;

interface PerMaterial {
  readonly contexts: Map<string, SecureContext>;
  readonly verifier: PeerVerifier;
  readonly trustDomain: string;
}

const trustDomainOf = (spiffeId: string): string => {
  const rest = spiffeId.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
};

export class MeshTls {
  private readonly perMaterial = new WeakMap<IdentityMaterial, PerMaterial>();
  private readonly handshakes: Counter;
  private readonly refused: MetricFamily<Counter>;
  private readonly plaintext: MetricFamily<Counter>;
  private readonly upstreamFailures: MetricFamily<Counter>;
  private readonly plaintextPeers = new Set<string>();
  private readonly log: Logger;

  constructor(
    readonly identity: IdentityProvider | undefined,
    logger: Logger,
    registry: MetricsRegistry,
  ) {
    this.log = logger.child({ component: 'mtls' });
    this.handshakes = registry
      .counter(
        'trellis_mtls_inbound_connections_total',
        'Inbound mTLS connections accepted (peer verified)',
        [],
      )
      .labels();
    this.refused = registry.counter(
      'trellis_mtls_refused_total',
      'Inbound connections refused by mTLS, by listener and reason',
      ['listener', 'reason'],
    );
    this.plaintext = registry.counter(
      'trellis_mtls_plaintext_connections_total',
      'Plaintext connections a PERMISSIVE listener accepted, by source address',
      ['listener', 'source'],
    );
    this.upstreamFailures = registry.counter(
      'trellis_mtls_upstream_failures_total',
      'Outbound mTLS connections that failed, by reason',
      ['reason'],
    );
  }

  /** The identity in force (undefined: no token, or no certificate issued yet). */
  material(): IdentityMaterial | undefined {
    return this.identity?.current();
  }

  /** Why there is no identity, for error messages. */
  noIdentityReason(): string {
    return this.identity === undefined
      ? 'no workload certificate yet: this sidecar runs without a bootstrap token (--token-file), so it has no identity for mTLS'
      : 'no workload certificate yet: this sidecar has not been issued its certificate by the control plane (see its /certs)';
  }

  private per(m: IdentityMaterial): PerMaterial {
    let p = this.perMaterial.get(m);
    if (p === undefined) {
      const trustDomain = trustDomainOf(m.spiffeId);
      p = { contexts: new Map(), verifier: new PeerVerifier(m.trustBundlePem, { trustDomain }), trustDomain };
      this.perMaterial.set(m, p);
    }
    return p;
  }

  /** The TLS context for this identity and version range (both sides use the same key and bundle). */
  context(m: IdentityMaterial, cfg: CommonTlsConfig): SecureContext {
    const p = this.per(m);
    const key = `${cfg.minVersion}|${cfg.maxVersion}`;
    let ctx = p.contexts.get(key);
    if (ctx === undefined) {
      ctx = createSecureContext({
        key: m.keyPem,
        cert: m.certChainPem,
        ca: m.trustBundlePem,
        minVersion: cfg.minVersion as TlsVersion,
        maxVersion: cfg.maxVersion as TlsVersion,
        secureOptions: NO_RESUMPTION,
        // Key and bundle are P-256 only: offer the matching curve and signature schemes first.
        ecdhCurve: 'X25519:P-256',
      });
      p.contexts.set(key, ctx);
    }
    return ctx;
  }

  /** Checks a client's certificate chain: any SPIFFE ID of our trust domain, clientAuth usage. */
  verifyClient(
    m: IdentityMaterial,
    chain: PeerCertificate,
  ): { ok: true; id: string } | { ok: false; error: string } {
    const r = this.per(m).verifier.verify(chain, null, 'client');
    return r.ok ? { ok: true, id: r.value.spiffeId } : { ok: false, error: r.error };
  }

  /** tls.connect options for one upstream (the exact SPIFFE ID check replaces hostname checks). */
  clientOptions(
    m: IdentityMaterial,
    cfg: UpstreamTlsConfig,
    alpn: readonly string[],
  ): {
    secureContext: SecureContext;
    rejectUnauthorized: true;
    ALPNProtocols: string[];
    checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  } {
    return {
      secureContext: this.context(m, cfg),
      rejectUnauthorized: true,
      ALPNProtocols: [...alpn],
      checkServerIdentity: this.per(m).verifier.checkServerIdentity(cfg.expectedSan),
    };
  }

  accepted(): void {
    this.handshakes.value++;
  }

  refuse(listener: string, reason: RefusedReason, detail: Record<string, unknown>): void {
    this.refused.labels(listener, reason).value++;
    this.log.debug({ listener, reason, ...detail }, 'inbound connection refused by mTLS');
  }

  /** A PERMISSIVE listener took a plaintext connection: counted per source, logged once per peer. */
  plaintextAccepted(listener: string, source: string | undefined): void {
    const src = source ?? 'unknown';
    const known = this.plaintextPeers.has(src);
    const label = known || this.plaintextPeers.size < MAX_PLAINTEXT_SOURCES ? src : 'other';
    this.plaintext.labels(listener, label).value++;
    if (known) return;
    if (this.plaintextPeers.size < MAX_PLAINTEXT_SOURCES) this.plaintextPeers.add(src);
    this.log.warn(
      { listener, source: src },
      'plaintext connection accepted (mTLS mode PERMISSIVE); this peer does not use mTLS yet',
    );
  }

  upstreamFailed(reason: 'no_certificate_yet' | 'handshake_failed' | 'peer_identity'): void {
    this.upstreamFailures.labels(reason).value++;
  }
}
