// Unit tests of the mTLS pieces: decoding the translate goldens (STRICT, PERMISSIVE, tcp, clusters,
// endpoint metadata), refusals with their field paths, the peer header, MeshTLS precedence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mtlsModeFor } from '../../api/schema-mtls.js';
import type { MeshTLSResource } from '../../api/types.js';
import { decodeCluster, decodeClusterLoadAssignment } from '../config/decode-cluster.js';
import { decodeListener } from '../config/decode-listener.js';
import { upstreamTlsFor } from '../config/decode-tls.js';
import { FieldError } from '../config/read.js';
import { applyPeerHeader, peerIdentity, setPeerIdentity } from './peer.js';
import type { Socket } from 'node:net';

type Obj = Record<string, Record<string, Record<string, unknown>>>;
const golden = (name: string): Obj =>
  JSON.parse(
    readFileSync(
      fileURLToPath(new URL(`../../../../test/fixtures/translate/${name}.golden.json`, import.meta.url)),
      'utf8',
    ),
  ) as Obj;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

test('STRICT, PERMISSIVE and tcp inbound listeners decode from the goldens', () => {
  const strict = decodeListener(golden('mtls-strict')['LDS']!['trellis_inbound']!);
  assert.equal(strict.tls?.mode, 'strict');
  assert.equal(strict.tls?.inner, 'http');
  assert.deepEqual(strict.tls?.tls.alpn, ['h2', 'http/1.1']);
  assert.equal(strict.tls?.tls.minVersion, 'TLSv1.3');
  assert.equal(strict.mode, undefined, 'HTTP only: no tcp fallback');
  const permissive = decodeListener(golden('mtls-permissive')['LDS']!['trellis_inbound']!);
  assert.equal(permissive.tls?.mode, 'permissive');
  assert.equal(permissive.mode, 'detect');
  const tcp = decodeListener(golden('mtls-grpc-tcp')['LDS']!['trellis_inbound']!);
  assert.deepEqual([tcp.tls?.mode, tcp.tls?.inner, tcp.mode], ['strict', 'tcp', 'tcp']);
  assert.equal(decodeListener(golden('mtls-strict')['LDS']!['trellis_outbound']!).tls, undefined);
});

test('clusters: TLS to tlsMode trellis endpoints with the exact SPIFFE ID, plaintext otherwise', () => {
  const g = golden('mtls-strict');
  const c = decodeCluster(g['CDS']!['outbound|9080||reviews.default']!);
  const eps = decodeClusterLoadAssignment(g['EDS']!['outbound|9080||reviews.default']!).endpoints;
  const tls = eps.map((e) => upstreamTlsFor(c.transportSocketMatches, e.tlsMatch)?.expectedSan);
  // Static plaintext, static `mtls: true` (a declared sidecar), registered with identity, registered without.
  const san = 'spiffe://cluster.local/ns/default/sa/reviews';
  assert.deepEqual(tls, [undefined, san, san, undefined]);
  const p = golden('mtls-permissive');
  assert.equal(decodeCluster(p['CDS']!['outbound|9080||ratings.shop']!).transportSocketMatches, undefined);
});

function refused(f: () => unknown, path: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof FieldError && path.test(e.path));
}

test('unsupported TLS settings are refused with the path of the field', () => {
  const l = golden('mtls-strict')['LDS']!['trellis_inbound']!;
  const noClientCert = clone(l) as {
    filter_chains: { transport_socket: { typed_config: Record<string, unknown> } }[];
  };
  noClientCert.filter_chains[0]!.transport_socket.typed_config['require_client_certificate'] = false;
  refused(
    () => decodeListener(noClientCert),
    /filter_chains\[0\]\.transport_socket\.typed_config\.require_client_certificate/,
  );
  const badSecret = clone(l) as {
    filter_chains: {
      transport_socket: {
        typed_config: { common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[] } };
      };
    }[];
  };
  badSecret.filter_chains[0]!.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0]!.name =
    'file-cert';
  refused(() => decodeListener(badSecret), /tls_certificate_sds_secret_configs\[0\]\.name$/);
  const c = clone(golden('mtls-strict')['CDS']!['outbound|9080||reviews.default']!) as {
    transport_socket_matches: {
      transport_socket: {
        typed_config: { common_tls_context: { combined_validation_context: Record<string, unknown> } };
      };
    }[];
  };
  c.transport_socket_matches[0]!.transport_socket.typed_config.common_tls_context.combined_validation_context[
    'default_validation_context'
  ] = {};
  refused(() => decodeCluster(c), /match_typed_subject_alt_names$/);
});

test('x-forwarded-client-cert: client copies removed, ours added only for a verified peer', () => {
  const plain = {} as Socket;
  const h = ['x-forwarded-client-cert', 'URI=spiffe://evil', 'a', 'b', 'x-forwarded-client-cert', 'x'];
  applyPeerHeader(h, plain);
  assert.deepEqual(h, ['a', 'b']);
  assert.equal(peerIdentity(plain), undefined);
  const tls = {} as Socket;
  setPeerIdentity(tls, 'spiffe://td/ns/a/sa/c', 'spiffe://td/ns/a/sa/s');
  const h2 = ['x-forwarded-client-cert', 'forged'];
  applyPeerHeader(h2, new Proxy(tls, {})); // node:http2's session.socket is a proxy
  assert.deepEqual(h2, ['x-forwarded-client-cert', 'By=spiffe://td/ns/a/sa/s;URI=spiffe://td/ns/a/sa/c']);
  assert.equal(peerIdentity(tls), 'spiffe://td/ns/a/sa/c');
});

test('MeshTLS precedence: Service, then namespace, then mesh, then STRICT', () => {
  const p = (
    ns: string,
    name: string,
    mode: MeshTLSResource['spec']['mode'],
    svc?: string,
  ): MeshTLSResource => ({
    apiVersion: 'trellis.dev/v1alpha1',
    kind: 'MeshTLS',
    metadata: { name, namespace: ns, labels: {}, annotations: {} },
    spec: { mode, targetRefs: svc ? [{ group: '', kind: 'Service', name: svc }] : [] },
  });
  assert.equal(mtlsModeFor([], 'shop', 'web'), 'STRICT');
  const all = [
    p('trellis-system', 'mesh', 'DISABLE'),
    p('shop', 'ns', 'PERMISSIVE'),
    p('shop', 'web', 'STRICT', 'web'),
  ];
  assert.equal(mtlsModeFor(all, 'shop', 'web'), 'STRICT');
  assert.equal(mtlsModeFor(all, 'shop', 'cart'), 'PERMISSIVE');
  assert.equal(mtlsModeFor(all, 'other', 'web'), 'DISABLE');
  assert.equal(mtlsModeFor([p('other', 'x', 'DISABLE', 'web')], 'shop', 'web'), 'STRICT');
});
