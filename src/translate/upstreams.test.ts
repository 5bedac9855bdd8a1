// Per-upstream local ports in translate: UPSTREAMS node metadata parsing, listener names for a
// wildcard LDS, and the LDS scope (sidecars with different upstreams never share a listener).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LISTENER_TYPE } from '../xds/type-urls.js';
import { defaultResourceNames, parseNode, translationScope } from './index.js';

const sidecar = (md: Record<string, unknown>) =>
  parseNode({
    id: 'n',
    metadata: {
      TRELLIS_KIND: 'sidecar',
      NAMESPACE: 'shop',
      INBOUND_PORT: '15006',
      OUTBOUND_PORT: '15001',
      APP_PORT: '8080',
      ...md,
    },
  });

describe('per-upstream local ports', () => {
  it('parses a list or a comma-separated string; short names resolve in the node namespace', () => {
    const a = sidecar({ UPSTREAMS: ['reviews:9080=15080', 'db.data:5432=15432'] });
    assert.deepEqual(a.sidecar?.upstreams, [
      { service: 'reviews', namespace: 'shop', port: 9080, localPort: 15080 },
      { service: 'db', namespace: 'data', port: 5432, localPort: 15432 },
    ]);
    const b = sidecar({ UPSTREAMS: 'reviews:9080=15080, db.data:5432=15432' });
    assert.deepEqual(b.sidecar?.upstreams, a.sidecar?.upstreams);
  });

  it('drops malformed entries and repeated local ports; none means no field', () => {
    const n = sidecar({ UPSTREAMS: ['Bad:1=2', 'x:0=1', 'a:80=9000', 'b:81=9000', 7] });
    assert.deepEqual(n.sidecar?.upstreams, [{ service: 'a', namespace: 'shop', port: 80, localPort: 9000 }]);
    assert.equal('upstreams' in (sidecar({}).sidecar ?? {}), false);
  });

  it('wildcard LDS names one listener per upstream; proxyless nodes get none', () => {
    const n = sidecar({ UPSTREAMS: ['reviews:9080=15080'] });
    assert.deepEqual(defaultResourceNames(n, LISTENER_TYPE), [
      'trellis_outbound',
      'trellis_inbound',
      'trellis_upstream_reviews.shop_9080',
    ]);
    assert.deepEqual(
      defaultResourceNames(parseNode({ id: 'g', metadata: { UPSTREAMS: ['a:1=2'] } }), LISTENER_TYPE),
      [],
    );
  });

  it('the LDS scope includes upstreams, namespace and Service', () => {
    const a = sidecar({ UPSTREAMS: ['reviews:9080=15080'] });
    const b = sidecar({ UPSTREAMS: ['reviews:9080=15081'] });
    const c = sidecar({ UPSTREAMS: ['reviews:9080=15080'], SERVICE: 'other' });
    const s = (x: typeof a) => translationScope(x, LISTENER_TYPE, '*');
    assert.notEqual(s(a), s(b));
    assert.notEqual(s(a), s(c));
    assert.equal(s(a), s(sidecar({ UPSTREAMS: 'reviews:9080=15080' })));
  });
});
