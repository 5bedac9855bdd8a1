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
      assert.equal(res.value.edge, true);
      assert.equal(res.value.routeSource.type, 'rds');
    }
  });
