// web: the shop's front end. GET / renders the products (catalog) with their stock (inventory, gRPC)
// and reviews (reviews v1 or v2: the page shows which answered); GET /api/products is the same as
// JSON. It reaches the other services through its sidecar's per-upstream ports ($CATALOG_ADDR,
// $REVIEWS_ADDR, $INVENTORY_ADDR). A failing reviews or inventory degrades the page, never fails it.
import { credentials } from '@grpc/grpc-js';
import { Inventory } from './inventory-proto.mjs';
import { addrFromEnv, getJson, log, portFromEnv, sendJson, serve } from './lib.mjs';
import { renderPage } from './web-page.mjs';

const APP = 'web';
const port = portFromEnv(APP);
const catalogUrl = addrFromEnv(APP, 'CATALOG_ADDR');
const reviewsUrl = addrFromEnv(APP, 'REVIEWS_ADDR');
const inventoryAddr = addrFromEnv(APP, 'INVENTORY_ADDR').replace(/^http:\/\//, '');
const TIMEOUT_MS = Number(process.env.CALL_TIMEOUT_MS ?? 2000);
const instance = `${APP}@${process.pid}`;

const inventory = new Inventory(inventoryAddr, credentials.createInsecure(), {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2000,
});

function getStock(ids) {
  return new Promise((resolve, reject) =>
    inventory.getStock({ ids }, { deadline: Date.now() + TIMEOUT_MS }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    ),
  );
}

/** Who is asking: the `x-shop-user` header, or `?user=` (so a browser can try the header route). */
function shopUser(req, url) {
  const h = req.headers['x-shop-user'];
  return (Array.isArray(h) ? h[0] : h) || url.searchParams.get('user') || undefined;
}

/** Catalog, then reviews and stock in parallel; only a failing catalog fails the whole answer. */
async function products(user) {
  const headers = user ? { 'x-shop-user': user } : {};
  let catalog;
  try {
    catalog = (await getJson(`${catalogUrl}/products`, { headers, timeoutMs: TIMEOUT_MS })).body;
  } catch (err) {
    return { status: 502, body: { error: `catalog unavailable: ${err.message}`, servedBy: instance } };
  }
  const ids = catalog.products.map((p) => p.id);
  const [reviews, stock] = await Promise.allSettled([
    getJson(`${reviewsUrl}/reviews?ids=${ids.join(',')}`, { headers, timeoutMs: TIMEOUT_MS }),
    getStock(ids),
  ]);
  const quantities = new Map(
    stock.status === 'fulfilled' ? stock.value.items.map((i) => [i.id, i.quantity]) : [],
  );
  const byProduct = reviews.status === 'fulfilled' ? reviews.value.body.reviews : {};
  return {
    status: 200,
    body: {
      servedBy: instance,
      ...(user && { user }),
      catalog: { instance: catalog.instance },
      reviews:
        reviews.status === 'fulfilled'
          ? { available: true, version: reviews.value.body.version, instance: reviews.value.body.instance }
          : { available: false, error: reviews.reason.message },
      inventory:
        stock.status === 'fulfilled'
          ? { available: true, instance: stock.value.instance }
          : { available: false, error: stock.reason.details || stock.reason.message },
      products: catalog.products.map((p) => ({
        ...p,
        stock: quantities.has(p.id) ? quantities.get(p.id) : null,
        reviews: byProduct[p.id] ?? null,
      })),
    },
  };
}

await serve(
  APP,
  port,
  async (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'only GET' });
    if (url.pathname === '/api/products') {
      const r = await products(shopUser(req, url));
      return sendJson(res, r.status, r.body, { 'cache-control': 'no-store' });
    }
    if (url.pathname === '/') {
      const r = await products(shopUser(req, url));
      const html = renderPage(r.body);
      res.writeHead(r.status, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(html),
        'cache-control': 'no-store',
      });
      return res.end(req.method === 'HEAD' ? undefined : html);
    }
    sendJson(res, 404, { error: `no page at ${url.pathname}; try / or /api/products` });
  },
  {
    startFields: { catalog: catalogUrl, reviews: reviewsUrl, inventory: inventoryAddr },
    onStop: () => inventory.close(),
  },
);
log(APP, 'ready', { instance });
