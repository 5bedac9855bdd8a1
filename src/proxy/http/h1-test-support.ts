// Test support for the HTTP/1 codec: feeds inputs with chosen splits into a parser and records
// the outcome (events + error code) so split-invariance and corpus replays can compare results.
import { H1ParseError, H1Parser } from './h1-parser.js';
import type { H1Head, H1Limits } from './h1-types.js';

export type H1Event = { head: H1Head } | { body: string } | { end: string[] | null };

export interface H1Outcome {
  events: H1Event[];
  error: string | null;
  consumed: number;
}

/** Deterministic PRNG (mulberry32) so fuzz failures replay. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Parses `input` delivered in pieces ending at `cuts` (sorted offsets), then signals EOF.
 * Non-H1ParseError exceptions propagate (that is a bug the caller must see).
 */
export function runParser(
  kind: 'request' | 'response',
  input: Buffer,
  cuts: number[] = [],
  opts: { methods?: string[]; limits?: Partial<H1Limits> } = {},
): H1Outcome {
  const events: H1Event[] = [];
  const parser = new H1Parser(
    kind,
    {
      onHead: (head) => events.push({ head }),
      onBody: (chunk) => {
        const last = events[events.length - 1];
        if (last !== undefined && 'body' in last) last.body += chunk.toString('latin1');
        else events.push({ body: chunk.toString('latin1') });
      },
      onEnd: (trailers) => events.push({ end: trailers }),
    },
    opts.limits,
  );
  for (const m of opts.methods ?? []) parser.expectResponse(m);
  let consumed = 0;
  let prev = 0;
  try {
    for (const cut of [...cuts, input.length]) {
      if (cut <= prev) continue;
      const piece = input.subarray(prev, cut);
      prev = cut;
      const n = parser.execute(piece);
      consumed += n;
      if (n < piece.length || parser.paused) break;
    }
    if (!parser.paused) parser.finish();
    return { events, error: null, consumed };
  } catch (e) {
    if (e instanceof H1ParseError) return { events, error: e.code, consumed };
    throw e;
  }
}

export function randomCuts(len: number, rnd: () => number): number[] {
  const cuts: number[] = [];
  for (let i = 1; i < len; i++) if (rnd() < 0.1) cuts.push(i);
  return cuts;
}

export function everyByte(len: number): number[] {
  return Array.from({ length: len }, (_, i) => i + 1);
}

/** Events only up to the first error are comparable across splits: body chunking may differ. */
export function sameOutcome(a: H1Outcome, b: H1Outcome): boolean {
  return a.error === b.error && JSON.stringify(a.events) === JSON.stringify(b.events);
}
