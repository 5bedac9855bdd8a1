// The proxy decodes every resource the control plane sends a gateway (the gateway-* goldens); its
// listeners are outbound (mesh headers stripped) edge listeners on RDS.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeResource, encodeResource } from '../../xds/any.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls.js';
import { decodeListenerResource, decoderFor } from './decode.js';
import { passthroughChainFor } from './decode-gateway-passthrough.js';
import { neededClusterNames, type States } from '../xds-client/snapshot.js';

type Obj = Record<string, unknown>;
const dir = join(fileURLToPath(new URL('../../../../', import.meta.url)), 'test/fixtures/translate');
const TYPES: Record<string, string> = {
  LDS: LISTENER_TYPE,
  RDS: ROUTE_TYPE,
  CDS: CLUSTER_TYPE,
  EDS: ENDPOINT_TYPE,
};
const wire = (r: Obj): Obj => decodeResource(encodeResource(r));

const files = readdirSync(dir).filter((n) => n.startsWith('gateway-') && n.endsWith('.golden.json'));

it('there are gateway goldens', () => assert.ok(files.length >= 3));

for (const f of files)
  it(`decodes every resource of ${f}`, () => {
    const g = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, Record<string, Obj>>;
    for (const [short, typeUrl] of Object.entries(TYPES))
      for (const r of Object.values(g[short] ?? {})) {
        const res = decoderFor(typeUrl)?.(wire(r));
        assert.ok(res?.ok, `${short}: ${res && !res.ok ? res.error.message : 'no decoder'}`);
      }
    for (const r of Object.values(g['LDS'] ?? {})) {
      const res = decodeListenerResource(wire(r));
      assert.ok(res.ok);
      assert.equal(res.value.direction, 'outbound');
      if (res.value.tls?.mode === 'passthrough') {
        // TLS passthrough: tcp_proxy chains by SNI, no HTTP (decode-gateway-passthrough.ts).
        assert.equal(res.value.mode, 'tcp');
        continue;
      }
      assert.equal(res.value.edge, true);
      assert.equal(res.value.routeSource.type, 'rds');
    }
  });

it('TLS passthrough: chains by SNI (exact, longest wildcard), weights, unknown SNI has none', () => {
  const g = JSON.parse(readFileSync(join(dir, 'gateway-tls-passthrough.golden.json'), 'utf8')) as Record<
    string,
    Record<string, Obj>
  >;
  const l = Object.values(g['LDS'] ?? {})[0] as Obj;
  const res = decodeListenerResource(wire(l));
  assert.ok(res.ok);
  const tls = res.value.tls;
  assert.ok(tls?.mode === 'passthrough');
  const pick = (sni: string | undefined) => passthroughChainFor(tls.chains, sni)?.name;
  assert.equal(pick('db.shop.example'), 'TLSRoute/default/db/db');
  assert.equal(pick('WWW.shop.example'), 'TLSRoute/default/web/wild');
  assert.equal(pick('a.api.shop.example'), 'TLSRoute/default/web/wild');
  assert.equal(pick('other.shop.example'), undefined);
  assert.equal(pick(undefined), undefined);
  const web = tls.chains.find((c) => c.name === 'TLSRoute/default/web/wild');
  assert.deepEqual(web?.clusters, [
    { name: 'outbound|443|v1|web.default', weight: 90 },
    { name: 'outbound|443|v2|web.default', weight: 10 },
  ]);
  assert.equal(web?.totalWeight, 100);
  // The xDS client subscribes over CDS to every chain's clusters (and the listener routes no HTTP).
  const rt = res.value.routeSource.type === 'inline' ? res.value.routeSource.routeTable : undefined;
  assert.deepEqual(rt?.virtualHosts, []);
  const states = new Map([[LISTENER_TYPE, { resources: new Map([['l', { value: res.value }]]) }]]);
  assert.deepEqual(
    neededClusterNames(states as unknown as States),
    new Set(['outbound|5432||db.default', ...web!.clusters.map((c) => c.name)]),
  );
  // Bad input: the path of the field.
  const bad = structuredClone(l) as Obj;
  const chain0 = (bad['filter_chains'] as Obj[])[0] as Obj;
  ((chain0['filter_chain_match'] as Obj)['server_names'] as unknown[])[0] = 'bad name!';
  const r2 = decodeListenerResource(wire(bad));
  assert.ok(!r2.ok);
  assert.match(r2.error.message, /filter_chains\[0\]\.filter_chain_match\.server_names\[0\]/);
});

it('client certificate validation: decoded per chain; a required certificate without CAs is refused with its path', () => {
  const g = JSON.parse(readFileSync(join(dir, 'gateway-client-cert.golden.json'), 'utf8')) as Record<
    string,
    Record<string, Obj>
  >;
  const l = g['LDS']?.['trellis_gateway_127.0.0.1_8443'] as Obj;
  const res = decodeListenerResource(wire(l));
  assert.ok(res.ok);
  assert.ok(res.value.tls?.mode === 'terminate');
  for (const c of res.value.tls.chains) assert.match(c.clientCa ?? '', /BEGIN CERTIFICATE/);
  const open = decodeListenerResource(wire(g['LDS']?.['trellis_gateway_127.0.0.1_9443'] as Obj));
  assert.ok(open.ok && open.value.tls?.mode === 'terminate');
  assert.equal(open.value.tls.chains[0]?.clientCa, undefined);
  // require_client_certificate without a validation_context: not a gateway chain, and refused.
  const bad = structuredClone(l);
  const chain0 = (bad['filter_chains'] as Obj[])[0] as Obj;
  const tc = (chain0['transport_socket'] as Obj)['typed_config'] as Obj;
  delete (tc['common_tls_context'] as Obj)['validation_context'];
  const r = decodeListenerResource(wire(bad));
  assert.ok(!r.ok);
  // Chains disagreeing on client validation (it is per port).
  const mixed = structuredClone(l);
  const tc1 = ((mixed['filter_chains'] as Obj[])[1] as Obj)['transport_socket'] as Obj;
  const t1 = tc1['typed_config'] as Obj;
  t1['require_client_certificate'] = false;
  delete (t1['common_tls_context'] as Obj)['validation_context'];
  const m = decodeListenerResource(wire(mixed));
  assert.ok(!m.ok);
  assert.match(m.error.message, /same validation_context/);
});
