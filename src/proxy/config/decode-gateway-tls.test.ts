// A gateway's HTTPS listener and SDS secrets: what decodes, what is refused (with the path), and
// which chain an SNI name picks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chainForServerName, decodeTlsSecret } from './decode-gateway-tls.js';
import { decodeListener } from './decode-listener.js';
import { FieldError } from './read.js';

type Obj = Record<string, unknown>;
const golden = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('../../../../test/fixtures/translate/gateway-https.golden.json', import.meta.url)),
    'utf8',
  ),
) as { LDS: Record<string, Obj> };
const https = (): Obj => JSON.parse(JSON.stringify(golden.LDS['trellis_gateway_127.0.0.1_8443'])) as Obj;
type Chains = { filter_chains: Obj[] };
const tlsCtx = (l: Obj, i: number): Obj =>
  ((l as Chains).filter_chains[i]!.transport_socket as Obj).typed_config as Obj;

function refused(l: Obj, path: RegExp): void {
  assert.throws(
    () => decodeListener(l),
    (e: unknown) => e instanceof FieldError && path.test(e.path),
  );
}

it('decodes the chains (SNI names first, the default last) over one HCM', () => {
  const d = decodeListener(https());
  assert.ok(d.tls?.mode === 'terminate');
  assert.deepEqual(
    d.tls.chains.map((c) => [c.name, c.serverNames, c.certSecret]),
    [
      ['shop', ['shop.example'], 'secret/default/shop-cert'],
      ['wild', ['*.other.example'], 'secret/default/other-cert'],
      ['fallback', [], 'secret/default/default-cert'],
    ],
  );
  assert.equal(d.routeSource.type, 'rds');
  assert.equal(d.edge, true);
  const pick = (s: string | undefined) =>
    chainForServerName(d.tls?.mode === 'terminate' ? d.tls.chains : [], s);
  assert.equal(pick('shop.example')?.name, 'shop');
  assert.equal(pick('b.other.example')?.name, 'wild');
  assert.equal(pick('shop.example.evil')?.name, 'fallback');
  assert.equal(pick('')?.name, 'fallback');
  assert.equal(chainForServerName(d.tls.chains.slice(0, 2), 'x.example'), undefined, 'no default: none');
});

it('refuses what it does not implement, with the path', () => {
  const alpn = https();
  (tlsCtx(alpn, 0).common_tls_context as Obj).alpn_protocols = ['h3'];
  refused(
    alpn,
    /filter_chains\[0\]\.transport_socket\.typed_config\.common_tls_context\.alpn_protocols\[0\]$/,
  );
  const filters = https();
  (filters as Chains).filter_chains[1]!.filters = [];
  refused(filters, /filter_chains\[1\]\.filters$/);
  const plain = https();
  delete ((plain as Chains).filter_chains[2]!.filter_chain_match as Obj).transport_protocol;
  refused(plain, /filter_chains\[2\]\.filter_chain_match\.transport_protocol$/);
  const twoDefaults = https();
  delete ((twoDefaults as Chains).filter_chains[0]!.filter_chain_match as Obj).server_names;
  refused(twoDefaults, /filter_chains\[2\]\.filter_chain_match$/);
  const sds = https();
  ((tlsCtx(sds, 0).common_tls_context as Obj).tls_certificate_sds_secret_configs as Obj[])[0]!.sds_config = {
    path: '/etc/x',
  };
  refused(sds, /tls_certificate_sds_secret_configs\[0\]\.sds_config$/);
  const old = https();
  ((tlsCtx(old, 1).common_tls_context as Obj).tls_params as Obj).tls_minimum_protocol_version = 'TLSv1_1';
  refused(old, /tls_params\.tls_minimum_protocol_version$/);
});

it('SDS secrets: inline PEM only', () => {
  const ok = decodeTlsSecret({
    name: 's',
    tls_certificate: {
      certificate_chain: { inline_string: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' },
      private_key: { inline_bytes: Buffer.from('-----BEGIN PRIVATE KEY-----\ny\n').toString('base64') },
    },
  });
  assert.match(ok.privateKey, /BEGIN PRIVATE KEY/);
  assert.throws(
    () =>
      decodeTlsSecret({
        name: 's',
        tls_certificate: { certificate_chain: { filename: '/x' }, private_key: {} },
      }),
    (e: unknown) => e instanceof FieldError && e.path === 'tls_certificate.certificate_chain.filename',
  );
  assert.throws(
    () => decodeTlsSecret({ name: 's', validation_context: {} }),
    (e: unknown) => e instanceof FieldError && e.path === 'validation_context',
  );
});
