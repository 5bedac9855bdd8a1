// Child process: the Node load generators, printing one JSON line. `open` sends at a fixed rate and
// measures latency from the INTENDED send time (no coordinated omission); `closed` is the saturation
// fallback when wrk is missing. Usage: node generator.js '<json options>'
import { Worker } from 'node:worker_threads';
import { H1Conn, requestBytes } from './h1-conn.js';
import { Histogram } from './hdr.js';

export interface GenOptions {
  mode: 'open' | 'closed';
  port: number;
  path: string;
  host: string;
  connections: number;
  durationS: number;
  /** open loop only: requests per second */
  rate?: number;
}

export interface OpenResult {
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export interface ClosedResult {
  requests: number;
  seconds: number;
  errors: number;
  non2xx: number;
}

const now = () => performance.timeOrigin + performance.now();

// The ticker thread starts idle (so its start-up is not counted as latency), gets the timetable's
// start, then sleeps precisely (Atomics.wait takes fractional ms) until each send time.
const TICKER = `
const { parentPort, workerData } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
const { periodMs, count } = workerData;
parentPort.once('message', (start) => {
  for (let i = 0; i < count; i++) {
    const wait = start + i * periodMs - (performance.timeOrigin + performance.now());
    if (wait > 0) Atomics.wait(cell, 0, 0, wait);
    parentPort.postMessage(i);
  }
});
parentPort.postMessage(-1);`;

async function connectAll(o: GenOptions, onError: (e: Error) => void): Promise<H1Conn[]> {
  const req = requestBytes(o.path, o.host);
  const conns = Array.from({ length: o.connections }, () => new H1Conn(o.port, req, onError));
  await Promise.all(conns.map((c) => c.ready()));
  return conns;
}

async function openLoop(o: GenOptions): Promise<OpenResult> {
  let errors = 0;
  let non2xx = 0;
  const conns = await connectAll(o, () => errors++);
  const hist = new Histogram();
  const periodMs = 1000 / o.rate!;
  const count = Math.round(o.rate! * o.durationS);
  const idle = [...conns];
  const queue: number[] = []; // intended send times waiting for a free connection
  let sent = 0;
  let completed = 0;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allDone = r));
  const fire = (conn: H1Conn, intended: number) => {
    conn.send((status) => {
      hist.record((now() - intended) * 1000);
      completed++;
      if (status < 200 || status > 299) non2xx++;
      const next = queue.shift();
      if (next !== undefined) fire(conn, next);
      else idle.push(conn);
      if (completed + errors >= count) allDone();
    });
  };
  const ticker = new Worker(TICKER, { eval: true, workerData: { periodMs, count } });
  await new Promise((resolve) => ticker.once('message', resolve));
  const start = now() + 20;
  ticker.postMessage(start);
  ticker.on('message', (i: number) => {
    // Send everything due up to tick i (ticks can arrive batched).
    while (sent <= i) {
      const intended = start + sent * periodMs;
      sent++;
      const conn = idle.pop();
      if (conn) fire(conn, intended);
      else queue.push(intended);
    }
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, o.durationS * 1000 + 5000))]);
  await ticker.terminate();
  for (const c of conns) c.close();
  return {
    sent,
    completed,
    errors: errors + Math.max(0, count - completed),
    non2xx,
    p50Us: hist.quantile(0.5),
    p99Us: hist.quantile(0.99),
    p999Us: hist.quantile(0.999),
    maxUs: hist.max,
  };
}

async function closedLoop(o: GenOptions): Promise<ClosedResult> {
  let errors = 0;
  let non2xx = 0;
  let requests = 0;
  let running = true;
  const conns = await connectAll(o, () => errors++);
  const t0 = now();
  const loop = (c: H1Conn) =>
    c.send((status) => {
      requests++;
      if (status < 200 || status > 299) non2xx++;
      if (running) loop(c);
    });
  conns.forEach(loop);
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  running = false;
  const seconds = (now() - t0) / 1000;
  for (const c of conns) c.close();
  return { requests, seconds, errors, non2xx };
}

if (process.argv[2]) {
  const o = JSON.parse(process.argv[2]) as GenOptions;
  const result = o.mode === 'open' ? await openLoop(o) : await closedLoop(o);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
