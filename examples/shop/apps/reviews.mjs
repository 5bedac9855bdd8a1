// reviews: what customers said, per product. One program, two versions: VERSION=v1 answers text
// only; VERSION=v2 adds star ratings (each review's stars and each product's average).
// GET /reviews?ids=p1,p2 -> { version, reviews: { p1: { rating?, items: [{ author, text, stars? }] } } }
import { portFromEnv, serve, sendJson } from './lib.mjs';

const APP = 'reviews';
const VERSION = process.env.VERSION ?? 'v1';
const FAIL_RATE = Number(process.env.FAIL_RATE ?? 0); // share of requests answered 503, for demos

const REVIEWS = {
  p1: [
    { author: 'Ana', text: 'The beans climbed it in a week.', stars: 5 },
    { author: 'Ravi', text: 'Solid wood, took ten minutes to build.', stars: 4 },
  ],
  p2: [{ author: 'Mei', text: 'Pours where I aim it.', stars: 4 }],
  p3: [
    { author: 'Tom', text: 'Cuts cleanly, a bit stiff at first.', stars: 3 },
    { author: 'Lena', text: 'Best shears I have owned.', stars: 5 },
  ],
  p4: [],
};

function forProduct(id) {
  const items = (REVIEWS[id] ?? []).map(({ author, text, stars }) =>
    VERSION === 'v1' ? { author, text } : { author, text, stars },
  );
  if (VERSION === 'v1') return { items };
  const rating = items.length ? items.reduce((s, r) => s + r.stars, 0) / items.length : null;
  return { rating: rating === null ? null : Math.round(rating * 10) / 10, items };
}

const port = portFromEnv(APP);
const instance = `${APP}-${VERSION}@${process.pid}`;

await serve(
  APP,
  port,
  (req, res, url) => {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'only GET' });
    if (FAIL_RATE > 0 && Math.random() < FAIL_RATE)
      return sendJson(res, 503, { error: 'injected failure (FAIL_RATE)', version: VERSION });
    const headers = { 'x-reviews-version': VERSION };
    if (url.pathname === '/reviews') {
      const ids = (url.searchParams.get('ids') ?? Object.keys(REVIEWS).join(',')).split(',').filter(Boolean);
      const reviews = Object.fromEntries(ids.map((id) => [id, forProduct(id)]));
      return sendJson(res, 200, { version: VERSION, instance, reviews }, headers);
    }
    const m = /^\/reviews\/([^/]+)$/.exec(url.pathname);
    if (m) return sendJson(res, 200, { version: VERSION, instance, reviews: forProduct(m[1]) }, headers);
    sendJson(res, 404, { error: `no route for ${url.pathname}; try GET /reviews?ids=p1,p2` });
  },
  { startFields: { version: VERSION } },
);
