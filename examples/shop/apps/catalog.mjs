// catalog: the shop's products over HTTP JSON. GET /products, GET /products/:id.
import { log, portFromEnv, serve, sendJson } from './lib.mjs';

const APP = 'catalog';
const PRODUCTS = [
  { id: 'p1', name: 'Trellis planter', price: 34.5, description: 'Cedar planter with a climbing frame.' },
  { id: 'p2', name: 'Watering can', price: 18.0, description: 'Two litres, long spout, steady hands.' },
  { id: 'p3', name: 'Pruning shears', price: 24.9, description: 'Bypass blades that stay sharp.' },
  { id: 'p4', name: 'Seed sampler', price: 9.75, description: 'Twelve herbs for a sunny windowsill.' },
];

const port = portFromEnv(APP);
const instance = `${APP}@${process.pid}`;

await serve(
  APP,
  port,
  (req, res, url) => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'only GET' });
    if (url.pathname === '/products') return sendJson(res, 200, { instance, products: PRODUCTS });
    const m = /^\/products\/([^/]+)$/.exec(url.pathname);
    const product = m && PRODUCTS.find((p) => p.id === m[1]);
    if (product) return sendJson(res, 200, { instance, product });
    sendJson(res, 404, { error: `no route for ${url.pathname}; try GET /products` });
  },
  { startFields: { products: PRODUCTS.length } },
);
log(APP, 'ready', { instance });
