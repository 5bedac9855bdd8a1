// Fuzz: seeded random and mutated HTTP/1 messages (bounded to a few seconds) must only ever fail
// with H1ParseError, never hang, and give the same outcome however split; plus the saved corpus
// in test/fixtures/h1-corpus/ (name.<ok|H1_CODE>.http, "res-" prefix = response) is replayed.
//
// Time here is the process's CPU time, not the wall clock: on a loaded machine (CI's 2 cores with
// other test files) the process waits for a core, and the wall clock counts the waiting. So the
// fuzz budget buys the same number of inputs however busy the machine is, and the per-input bound
// (a parser that hangs or backtracks) only counts the parser's own work.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { prng, randomCuts, runParser, sameOutcome, type H1Outcome } from './h1-test-support.js';
import type { H1Limits } from './h1-types.js';

const CORPUS = new URL('../../../../test/fixtures/h1-corpus/', import.meta.url);
const BUDGET_MS = Number(process.env.H1_FUZZ_MS ?? 1500);
/** Per input, whole and split parse together. */
const INPUT_BOUND_MS = 200;

/** CPU time of this process (user + system) in ms; unlike the wall clock, waiting for a core is not counted. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const SEED = Number(process.env.H1_FUZZ_SEED ?? 0x5eed);

const REQUESTS = [
  'GET /index.html?q=1 HTTP/1.1\r\nHost: svc.local\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n',
  'POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n',
  'GET http://a:80/x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-h\r\nX-H: 1\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n',
];
const RESPONSES = [
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\nabc',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\ngrpc-status: 0\r\n\r\n',
  'HTTP/1.0 200 OK\r\n\r\nuntil close',
  'HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n',
];
const SNIPPETS = [
  '\r',
  '\n',
  '\r\n',
  '\0',
  ' ',
  '\t',
  ':',
  ',',
  ';',
  '\x0b',
  '\x7f',
  '\xff',
  '0',
  'f',
  '-',
  '#',
  '@',
  '/',
  'chunked',
  'Content-Length: 3\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Host: x\r\n',
  ' chunked',
  'Content-Length: 0\r\n',
  'Transfer-Encoding: gzip\r\n',
  'Connection: close\r\n',
  'ffffffffffffffffff\r\n',
].map((s) => Buffer.from(s, 'latin1'));

function mutate(input: Buffer, rnd: () => number): Buffer {
  let b = input;
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * (b.length + 1));
    const pick = rnd();
    if (pick < 0.25 && b.length > 0) {
      b = Buffer.from(b);
      b[Math.min(at, b.length - 1)] = Math.floor(rnd() * 256);
    } else if (pick < 0.55) {
      const s = SNIPPETS[Math.floor(rnd() * SNIPPETS.length)] as Buffer;
      b = Buffer.concat([b.subarray(0, at), s, b.subarray(at)]);
    } else if (pick < 0.75) {
      b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rnd() * 8)))]);
    } else if (pick < 0.9) {
      const end = Math.min(b.length, at + Math.floor(rnd() * 40));
      b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
    } else {
      b = b.subarray(0, at);
    }
  }
  return b;
}

function randomBytes(rnd: () => number): Buffer {
  const b = Buffer.alloc(Math.floor(rnd() * 200));
  for (let i = 0; i < b.length; i++)
    b[i] = rnd() < 0.5 ? 0x20 + Math.floor(rnd() * 95) : Math.floor(rnd() * 256);
  return b;
}

/** Small limits so mutations cross them often (limit errors must be split-invariant too). */
const TIGHT: Partial<H1Limits> = {
  maxHeaderBytes: 120,
  maxRequestLineBytes: 40,
  maxHeaderCount: 4,
  maxChunkExtensionBytes: 6,
  maxChunkSize: 64,
};

function check(kind: 'request' | 'response', input: Buffer, rnd: () => number, tight = false): H1Outcome {
  const t0 = cpuMs();
  const limits = tight ? TIGHT : undefined;
  const whole = runParser(kind, input, [], { limits });
  const split = runParser(kind, input, randomCuts(input.length, rnd), { limits });
  if (!sameOutcome(whole, split)) {
    if (process.env.H1_FUZZ_SAVE) {
      const name = `${kind === 'response' ? 'res-' : ''}fuzz-${Date.now()}.${whole.error ?? 'ok'}.http`;
      writeFileSync(new URL(name, CORPUS), input);
    }
    assert.fail(
      `split changes the outcome: ${whole.error} vs ${split.error} for ${JSON.stringify(input.toString('latin1'))}`,
    );
  }
  const took = cpuMs() - t0;
  assert.ok(
    took < INPUT_BOUND_MS,
    `one input took ${took.toFixed(1)} ms of CPU (over ${INPUT_BOUND_MS}): ${JSON.stringify(input.toString('latin1'))}`,
  );
  return whole;
}

describe('h1 parser: fuzz', () => {
  for (const kind of ['request', 'response'] as const) {
    it(`random and mutated ${kind}s only raise H1ParseError (seed ${SEED})`, () => {
      const rnd = prng(SEED + (kind === 'request' ? 0 : 1));
      const seeds = (kind === 'request' ? REQUESTS : RESPONSES).map((s) => Buffer.from(s, 'latin1'));
      const deadline = cpuMs() + BUDGET_MS / 2;
      const codes = new Map<string, number>();
      let runs = 0;
      while (cpuMs() < deadline) {
        const base = seeds[Math.floor(rnd() * seeds.length)] as Buffer;
        const input = rnd() < 0.1 ? randomBytes(rnd) : mutate(base, rnd);
        const code = check(kind, input, rnd, runs % 2 === 1).error ?? 'ok';
        codes.set(code, (codes.get(code) ?? 0) + 1);
        runs++;
      }
      assert.ok(runs > 100, `only ${runs} runs`);
      assert.ok(
        (codes.get('ok') ?? 0) > 0 && codes.size > 5,
        'mutations should hit both valid and many error paths',
      );
    });
  }

  it('replays the saved corpus', () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.http'));
    assert.ok(files.length >= 10);
    const rnd = prng(1);
    for (const f of files) {
      const expect = f.split('.').at(-2);
      const kind = f.startsWith('res-') ? 'response' : 'request';
      const out = check(kind, readFileSync(new URL(f, CORPUS)), rnd);
      assert.equal(out.error ?? 'ok', expect, f);
    }
  });
});
