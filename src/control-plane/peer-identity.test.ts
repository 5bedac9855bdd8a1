// What a verified client certificate may claim: its own namespace and Service (or gateway-<name>).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedServiceAccount, identityMismatch } from './peer-identity.js';
import { isSidecarRoute, sidecarRoute } from './http-api/sidecar-api.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

test('a sidecar may act for its own Service only; a gateway for its own Gateway', () => {
  assert.equal(identityMismatch(WEB, { namespace: 'shop', service: 'web' }), undefined);
  assert.match(
    identityMismatch(WEB, { namespace: 'shop', service: 'db' }) ?? '',
    /is spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web; it may not act for Service shop\/db/,
  );
  assert.match(identityMismatch(WEB, { namespace: 'other', service: 'web' }) ?? '', /Service other\/web/);
  assert.equal(expectedServiceAccount({ namespace: 'shop', gateway: 'edge' }), 'gateway-edge');
  assert.equal(
    identityMismatch('spiffe://cluster.local/ns/shop/sa/gateway-edge', {
      namespace: 'shop',
      gateway: 'edge',
    }),
    undefined,
  );
  assert.match(identityMismatch(WEB, { namespace: 'shop', gateway: 'edge' }) ?? '', /Gateway shop\/edge/);
  // A client claiming no Service (proxyless) needs only the namespace.
  assert.equal(identityMismatch(WEB, { namespace: 'shop' }), undefined);
  assert.match(identityMismatch(WEB, { namespace: 'default' }) ?? '', /namespace default/);
  assert.match(
    identityMismatch('spiffe://cluster.local/x', { namespace: 'shop' }) ?? '',
    /not a workload identity/,
  );
});

test('the secure port serves the sidecar routes only', () => {
  for (const [m, p] of [
    ['POST', '/api/v1/instances'],
    ['POST', '/api/v1/instances/web-1/heartbeat'],
    ['DELETE', '/api/v1/instances/web-1'],
    ['POST', '/api/v1/certificates'],
    ['GET', '/api/v1/trust-bundle?wait=x&timeout=5'],
    ['GET', '/healthz'],
  ] as const)
    assert.ok(isSidecarRoute(m, p), `${m} ${p}`);
  for (const [m, p] of [
    ['POST', '/api/v1/apply'],
    ['GET', '/api/v1/resources'],
    ['POST', '/api/v1/tokens'],
    ['POST', '/api/v1/ca/rotate'],
    ['GET', '/api/v1/certificates'],
    ['GET', '/api/v1/proxies'],
    ['POST', '//api/v1/apply'],
    ['POST', '/api/v1/instances/../apply'],
    ['GET', '/api/v1/instances'],
  ] as const)
    assert.ok(!isSidecarRoute(m, p), `${m} ${p}`);
});

test('without a client certificate the secure port serves the bootstrap routes only', () => {
  for (const [m, p] of [
    ['POST', '/api/v1/certificates'],
    ['GET', '/api/v1/trust-bundle'],
    ['GET', '/api/v1/trust-bundle?format=pem'],
    ['GET', '/healthz'],
    ['GET', '/readyz'],
  ] as const)
    assert.equal(sidecarRoute(m, p), 'served', `${m} ${p}`);
  for (const [m, p] of [
    ['POST', '/api/v1/instances'],
    ['POST', '/api/v1/instances/web-1/heartbeat'],
    ['DELETE', '/api/v1/instances/web-1'],
    ['DELETE', '/api/v1/instances/web-1?x=1'],
  ] as const)
    assert.equal(sidecarRoute(m, p), 'needs-certificate', `${m} ${p}`);
  assert.equal(sidecarRoute('GET', '/api/v1/resources'), 'not-served');
});
