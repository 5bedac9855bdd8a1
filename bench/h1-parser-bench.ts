// Micro-benchmark of the sidecar's HTTP/1 codec: ns per parsed request/response head and per
// serialized head. Run: npx tsc -p . && node dist/bench/h1-parser-bench.js
import {
  H1Parser,
  type H1Handler,
  type H1RequestHead,
  type H1ResponseHead,
} from '../src/proxy/http/h1-parser.js';
import { serializeRequestHead, serializeResponseHead } from '../src/proxy/http/h1-serializer.js';

const REQUEST = Buffer.from(
  'GET /api/v1/orders/12345?expand=items&limit=20 HTTP/1.1\r\n' +
    'Host: orders.default.svc.cluster.local:8080\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) trellis-bench/1.0\r\n' +
    'Accept: application/json\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n' +
    'Connection: keep-alive\r\n\r\n',
  'latin1',
);
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    'Content-Length: 100\r\n' +
    'Date: Sat, 28 Nov 2026 20:00:00 GMT\r\n' +
    'Cache-Control: no-cache\r\n' +
    'X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n\r\n' +
    'x'.repeat(100),
  'latin1',
);

let heads = 0;
let lastReq: H1RequestHead | null = null;
let lastRes: H1ResponseHead | null = null;
const handler: H1Handler = {
  onHead(h) {
    heads++;
    if (h.kind === 'request') lastReq = h;
    else lastRes = h;
  },
  onBody() {},
  onEnd() {},
};

/** CPU time (not wall time: this machine is shared and noisy) per message, median of 7 rounds. */
function bench(name: string, bytes: number, n: number, fn: () => void, perCall = 1): void {
  for (let i = 0; i < n / 5; i++) fn(); // warm up
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const used = process.cpuUsage(t0);
    rounds.push(((used.user + used.system) * 1000) / (n * perCall));
  }
  rounds.sort((a, b) => a - b);
  const median = rounds[3] as number;
  console.log(
    `${name.padEnd(44)} ${bytes.toString().padStart(5)} B  ${median.toFixed(0).padStart(6)} ns/msg  (best ${(rounds[0] as number).toFixed(0)})`,
  );
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number;
  [k: number]: unknown;
}
interface LlhttpBinding {
  HTTPParser: {
    new (): LlhttpParser;
    REQUEST: number;
    kOnHeadersComplete: number;
    kOnMessageComplete: number;
  };
}

/** Same-run reference: Node's own llhttp (C, what node:http uses), headers delivered as a raw flat array. */
function llhttpReference(): void {
  try {
    process.noDeprecation = true;
    const { HTTPParser } = (process as unknown as { binding(n: string): LlhttpBinding }).binding(
      'http_parser',
    );
    const p = new HTTPParser();
    p[HTTPParser.kOnHeadersComplete] = () => {
      heads++;
      return 0;
    };
    p[HTTPParser.kOnMessageComplete] = () => {};
    p.initialize(HTTPParser.REQUEST, {}, 0, 0);
    bench('reference: llhttp (node:http parser) request', REQUEST.length, N, () => p.execute(REQUEST));
  } catch {
    console.log('reference: llhttp binding not reachable on this Node');
  }
}

const N = 200_000;
const reqParser = new H1Parser('request', handler);
bench('parse request head (keep-alive, reused parser)', REQUEST.length, N, () => reqParser.execute(REQUEST));
const pipelined = Buffer.concat(Array.from({ length: 10 }, () => REQUEST));
bench(
  'parse 10 pipelined requests, per request',
  REQUEST.length,
  N / 10,
  () => reqParser.execute(pipelined),
  10,
);
bench('parse request split in 2 buffers', REQUEST.length, N, () => {
  reqParser.execute(REQUEST.subarray(0, 150));
  reqParser.execute(REQUEST.subarray(150));
});
const resParser = new H1Parser('response', handler);
bench('parse response head + 100 B body', RESPONSE.length - 100, N, () => {
  resParser.expectResponse('GET');
  resParser.execute(RESPONSE);
});
llhttpReference();
const req = lastReq as H1RequestHead | null;
const res = lastRes as H1ResponseHead | null;
if (req === null || res === null) throw new Error('nothing parsed');
bench('serialize request head upstream', REQUEST.length, N, () =>
  serializeRequestHead(req, { body: 'none' }),
);
bench('serialize response head downstream', RESPONSE.length - 100, N, () =>
  serializeResponseHead(res, { body: 100 }),
);
console.log(`(${heads} heads parsed; node ${process.version})`);
