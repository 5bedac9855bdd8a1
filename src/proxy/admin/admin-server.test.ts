// The admin server on its own: pages, status codes, content types, read-only, errors as 500.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/logger.js';
import { createAdminServer, type AdminServer } from './admin-server.js';

describe('admin server', () => {
  let server: AdminServer;
  let ready = false;
  const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${server.port}${path}`, { method });

  before(async () => {
    server = await createAdminServer({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      sources: {
        readiness: () => ({ ready, reason: ready ? 'serving' : 'waiting for config' }),
        configDump: () => ({ xds: { types: {} } }),
        clusters: () => {
          throw new Error('boom');
        },
        metrics: () => 'up 1\n',
      },
    });
  });
  after(() => server.close());

  test('/ready follows readiness with the reason; /live is always 200', async () => {
    let res = await get('/ready');
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { ready: false, reason: 'waiting for config' });
    ready = true;
    res = await get('/ready?verbose');
    assert.equal(res.status, 200);
    assert.equal((await get('/live')).status, 200);
  });

  test('pages, content types, 404, 405, and a failing page is a 500 that names the error', async () => {
    let res = await get('/stats');
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await res.text(), 'up 1\n');
    res = await get('/config_dump');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { xds: { types: {} } });
    assert.match(await (await get('/')).text(), /\/clusters/);
    res = await get('/nope');
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { message: string }).message, /no admin page \/nope/);
    assert.equal((await get('/ready', 'POST')).status, 405);
    res = await get('/clusters');
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as { message: string }).message, /boom/);
  });
});
