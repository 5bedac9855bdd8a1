// loadgen: a steady stream of shoppers. Sends RATE requests per second (default 5) to TARGET
// (default the gateway, http://127.0.0.1:8080/api/products) and logs a one-line summary every
// REPORT_SECONDS (default 5): requests, errors, and the share answered by reviews v1 and v2.
// It also listens on 127.0.0.1:$PORT: GET /healthz, GET /stats (totals since start, as JSON).
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { getJson, log, portFromEnv, sendJson, serve } from './lib.mjs';

const APP = 'loadgen';
const port = portFromEnv(APP, 0);
const TARGET = process.env.TARGET ?? 'http://127.0.0.1:8080/api/products';
const RATE = Number(process.env.RATE ?? 5);
const REPORT_SECONDS = Number(process.env.REPORT_SECONDS ?? 5);
const SHOP_USER = process.env.SHOP_USER; // sent as x-shop-user when set
const MAX_IN_FLIGHT = 100;
if (!(RATE >= 0) || !(REPORT_SECONDS > 0)) {
  process.stderr.write(`${APP}: RATE must be >= 0 and REPORT_SECONDS > 0\n`);
  process.exit(2);
}

const fresh = () => ({ requests: 0, ok: 0, errors: 0, statuses: {}, versions: {}, latencyMs: [] });
let window = fresh();
const totals = { requests: 0, ok: 0, errors: 0, statuses: {}, versions: {} };
let inFlight = 0;

function record(status, version, ms) {
  for (const t of [window, totals]) {
    t.requests++;
    if (status >= 200 && status < 300) t.ok++;
    else t.errors++;
    t.statuses[status] = (t.statuses[status] ?? 0) + 1;
    if (version) t.versions[version] = (t.versions[version] ?? 0) + 1;
  }
  window.latencyMs.push(ms);
}

async function shop() {
  if (inFlight >= MAX_IN_FLIGHT) return record('skipped', undefined, 0);
  inFlight++;
  const start = Date.now();
  try {
    const { body } = await getJson(TARGET, {
      headers: SHOP_USER ? { 'x-shop-user': SHOP_USER } : {},
      timeoutMs: 5000,
    });
    record(200, body.reviews?.available ? body.reviews.version : 'unavailable', Date.now() - start);
  } catch (err) {
    record(err.status ?? err.code ?? 'failed', undefined, Date.now() - start);
  } finally {
    inFlight--;
  }
}

const pct = (n, d) => (d === 0 ? '0%' : `${Math.round((100 * n) / d)}%`);

function report() {
  const w = window;
  window = fresh();
  const answered = Object.values(w.versions).reduce((a, b) => a + b, 0);
  const shares = Object.keys(w.versions)
    .sort()
    .map((v) => `${v} ${pct(w.versions[v], answered)}`)
    .join(', ');
  const sorted = w.latencyMs.sort((a, b) => a - b);
  const p50 = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  const bad = Object.entries(w.statuses)
    .filter(([s]) => s !== '200')
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  log(
    APP,
    `${REPORT_SECONDS}s: ${w.requests} requests, ${w.errors} errors${bad ? ` (${bad})` : ''}` +
      `${shares ? `; reviews ${shares}` : ''}; p50 ${p50} ms`,
  );
}

let ticker;
let reporter;
let stopped = false;

/** Shoppers arrive once the shop is open: the first summary then counts real errors only. */
async function waitForShop() {
  const deadline = Date.now() + 120_000;
  let said = false;
  while (!stopped && Date.now() < deadline) {
    try {
      await getJson(TARGET, { timeoutMs: 2000 });
      return;
    } catch (err) {
      if (!said) log(APP, `waiting for the shop at ${TARGET} (${err.status ?? err.code ?? 'no answer'})`);
      said = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!stopped) log(APP, `the shop did not answer within 120 s; shopping anyway`);
}

async function start() {
  await waitForShop();
  if (stopped) return;
  if (RATE > 0) ticker = setInterval(() => void shop(), 1000 / RATE);
  reporter = setInterval(report, REPORT_SECONDS * 1000);
}

await serve(
  APP,
  port,
  (req, res, url) => {
    if (url.pathname === '/stats')
      return sendJson(res, 200, { target: TARGET, rate: RATE, inFlight, ...totals });
    sendJson(res, 404, { error: `no page at ${url.pathname}; try /stats` });
  },
  {
    startFields: { target: TARGET, rate: RATE },
    onStop: () => {
      stopped = true;
      clearInterval(ticker);
      clearInterval(reporter);
    },
  },
);
void start();
