// The demo shop's apps (examples/shop/apps) on their own, without a mesh: each *_ADDR points straight
// at another app's port. web combines catalog, reviews and inventory; reviews v1 and v2 differ;
// inventory answers gRPC (unary and streaming); web degrades when reviews or inventory is down and
// fails clearly when catalog is; loadgen reports; every app exits 0 on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { freePort, waitFor } from './helpers/processes.js';
import {
  getJson,
  getStock,
  httpGet,
  inventoryClient,
  startShopApp,
  type Program,
  type StockItem,
} from './helpers/shop.js';

interface Products {
  servedBy: string;
  user?: string;
  error?: string;
  catalog?: { instance: string };
  reviews: { available: boolean; version?: string; error?: string };
  inventory: { available: boolean; instance?: string; error?: string };
  products: {
    id: string;
    name: string;
    price: number;
    stock: number | null;
    reviews: { rating?: number | null; items: { author: string; text: string; stars?: number }[] } | null;
  }[];
}

type ProductReviews = NonNullable<Products['products'][number]['reviews']>;
interface ReviewsAnswer {
  version: string;
  reviews: Record<string, ProductReviews>;
}

describe('examples/shop apps (no mesh)', { timeout: 30_000 }, () => {
  const apps = new Map<string, Program>();
  const port = new Map<string, number>();
  const addr = (name: string) => `127.0.0.1:${port.get(name)}`;
  const url = (name: string, path: string) => `http://${addr(name)}${path}`;

  before(async () => {
    for (const n of [
      'catalog',
      'reviews-v1',
      'reviews-v2',
      'inventory',
      'web',
      'web-degraded',
      'loadgen',
      'dead',
    ])
      port.set(n, await freePort());
    const env = (n: string, extra: Record<string, string> = {}) => ({ PORT: String(port.get(n)), ...extra });
    const started = await Promise.all([
      startShopApp('catalog', env('catalog')),
      startShopApp('reviews', env('reviews-v1', { VERSION: 'v1' })),
      startShopApp('reviews', env('reviews-v2', { VERSION: 'v2' })),
      startShopApp('inventory', env('inventory')),
    ]);
    ['catalog', 'reviews-v1', 'reviews-v2', 'inventory'].forEach((n, i) => apps.set(n, started[i]!));
    const [web, degraded] = await Promise.all([
      startShopApp(
        'web',
        env('web', {
          CATALOG_ADDR: addr('catalog'),
          REVIEWS_ADDR: addr('reviews-v2'),
          INVENTORY_ADDR: addr('inventory'),
        }),
      ),
      // reviews and inventory point at a port nobody listens on
      startShopApp(
        'web',
        env('web-degraded', {
          CATALOG_ADDR: addr('catalog'),
          REVIEWS_ADDR: addr('dead'),
          INVENTORY_ADDR: addr('dead'),
          CALL_TIMEOUT_MS: '1000',
        }),
      ),
    ]);
    apps.set('web', web);
    apps.set('web-degraded', degraded);
  });

  after(async () => {
    await Promise.all([...apps.values()].map((a) => a.stop('SIGKILL')));
  });

  test('every HTTP app answers GET /healthz', async () => {
    for (const n of ['catalog', 'reviews-v1', 'reviews-v2', 'web']) {
      const r = await getJson<{ ok: boolean }>(url(n, '/healthz'));
      assert.equal(r.status, 200, n);
      assert.equal(r.body.ok, true, n);
    }
  });

  test('reviews: v1 answers text only, v2 adds stars and ratings; both say their version', async () => {
    const v1 = await getJson<ReviewsAnswer>(url('reviews-v1', '/reviews?ids=p1,p4'));
    const v2 = await getJson<ReviewsAnswer>(url('reviews-v2', '/reviews?ids=p1,p4'));
    assert.equal(v1.status, 200);
    assert.equal(v1.body.version, 'v1');
    assert.equal(v2.body.version, 'v2');
    const r1 = v1.body.reviews['p1']!;
    const r2 = v2.body.reviews['p1']!;
    assert.ok(r1.items.length > 0);
    assert.ok(r1.items.every((i) => i.stars === undefined) && r1.rating === undefined, 'v1 has no stars');
    assert.ok(
      r2.items.every((i) => typeof i.stars === 'number'),
      'v2 has stars',
    );
    assert.equal(typeof r2.rating, 'number');
    assert.deepEqual(v2.body.reviews['p4'], { rating: null, items: [] });
    const h = await httpGet(url('reviews-v2', '/reviews'));
    assert.equal(h.headers['x-reviews-version'], 'v2');
  });

  test('inventory: GetStock (all, some, unknown id) and WatchStock over gRPC', async () => {
    const client = inventoryClient(addr('inventory'));
    try {
      const all = await getStock(client, []);
      assert.deepEqual(all.items.map((i) => i.id).sort(), ['p1', 'p2', 'p3', 'p4']);
      assert.match(all.instance, /^inventory@\d+$/);
      const some = await getStock(client, ['p2']);
      assert.equal(some.items.length, 1);
      assert.equal(typeof some.items[0]!.quantity, 'number');
      await assert.rejects(getStock(client, ['nope']), (e: ServiceError) => {
        assert.equal(e.code, grpcStatus.NOT_FOUND);
        assert.match(e.details, /nope/);
        return true;
      });
      const call = client.watchStock({ ids: ['p1', 'p3'] });
      const seen: StockItem[] = [];
      call.on('data', (i: StockItem) => seen.push(i));
      call.on('error', () => {}); // CANCELLED after cancel()
      await waitFor('the first two WatchStock messages', () => seen.length >= 2 || undefined, 5000);
      call.cancel();
      assert.deepEqual(
        seen
          .slice(0, 2)
          .map((i) => i.id)
          .sort(),
        ['p1', 'p3'],
      );
    } finally {
      client.close();
    }
  });

  test('web: /api/products combines catalog, reviews (v2) and inventory', async () => {
    const r = await getJson<Products>(url('web', '/api/products'));
    assert.equal(r.status, 200);
    assert.equal(r.body.reviews.available, true);
    assert.equal(r.body.reviews.version, 'v2');
    assert.equal(r.body.inventory.available, true);
    assert.match(r.body.catalog!.instance, /^catalog@\d+$/);
    assert.equal(r.body.products.length, 4);
    for (const p of r.body.products) {
      assert.equal(typeof p.price, 'number', p.id);
      assert.equal(typeof p.stock, 'number', p.id);
      assert.ok(p.reviews && Array.isArray(p.reviews.items), p.id);
    }
    assert.equal(r.body.products.find((p) => p.id === 'p1')!.reviews!.items[0]!.stars, 5);
  });

  test('web: the page shows products, prices, stock, reviews and the reviews version badge', async () => {
    const r = await httpGet(url('web', '/'));
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.body, /Trellis planter/);
    assert.match(r.body, /\$34\.50/);
    assert.match(r.body, /\d+ in stock|out of stock/);
    assert.match(r.body, /The beans climbed it in a week/);
    assert.match(r.body, /reviews v2 ★/);
    assert.match(r.body, /data-reviews-version="v2"/);
  });

  test('web passes x-shop-user (or ?user=) on to reviews', async () => {
    const a = await getJson<Products>(url('web', '/api/products'), { 'x-shop-user': 'tester' });
    assert.equal(a.body.user, 'tester');
    const b = await getJson<Products>(url('web', '/api/products?user=tester'));
    assert.equal(b.body.user, 'tester');
  });

  test('web degrades when reviews and inventory are down: 200, "reviews unavailable"', async () => {
    const page = await httpGet(url('web-degraded', '/'));
    assert.equal(page.status, 200);
    assert.match(page.body, /reviews unavailable/);
    assert.match(page.body, /stock unknown/);
    assert.match(page.body, /Trellis planter/);
    const api = await getJson<Products>(url('web-degraded', '/api/products'));
    assert.equal(api.status, 200);
    assert.equal(api.body.reviews.available, false);
    assert.equal(api.body.inventory.available, false);
    assert.ok(api.body.products.every((p) => p.stock === null && p.reviews === null));
  });

  test('web answers 502 naming catalog when catalog is down, and recovers when it is back', async () => {
    const catalog = apps.get('catalog')!;
    assert.equal(await catalog.stop('SIGTERM'), 0);
    const api = await getJson<Products>(url('web', '/api/products'));
    assert.equal(api.status, 502);
    assert.match(api.body.error!, /catalog unavailable/);
    const page = await httpGet(url('web', '/'));
    assert.equal(page.status, 502);
    assert.match(page.body, /catalog unavailable/);
    apps.set('catalog', await startShopApp('catalog', { PORT: String(port.get('catalog')) }));
    assert.equal((await getJson<Products>(url('web', '/api/products'))).status, 200);
  });

  test('loadgen sends a steady stream and reports requests, errors and the v1/v2 share', async () => {
    const loadgen = await startShopApp('loadgen', {
      PORT: String(port.get('loadgen')),
      TARGET: url('web', '/api/products'),
      RATE: '20',
      REPORT_SECONDS: '1',
    });
    apps.set('loadgen', loadgen);
    // a window with traffic, all answered by reviews v2 (under CPU load the first may be empty)
    await loadgen.waitForLine(
      /^loadgen 1s: [1-9]\d* requests, 0 errors; reviews v2 100%; p50 \d+ ms$/,
      10_000,
    );
    const stats = await getJson<{
      requests: number;
      ok: number;
      errors: number;
      versions: Record<string, number>;
    }>(url('loadgen', '/stats'));
    assert.ok(stats.body.requests >= 10, JSON.stringify(stats.body));
    assert.equal(stats.body.errors, 0);
    assert.equal(stats.body.versions['v2'], stats.body.ok);
  });

  test('every app logs one start line and exits 0 on SIGTERM', async () => {
    for (const [name, app] of apps) {
      assert.equal(app.lines.filter((l) => / started /.test(l)).length, 1, name);
      assert.equal(await app.stop('SIGTERM'), 0, `${name} exit code; output:\n${app.lines.join('\n')}`);
      assert.ok(
        app.lines.some((l) => / stopped$/.test(l)),
        name,
      );
    }
  });
});
