// The `limits` part of the sidecar bootstrap: a `limits` section in the bootstrap file (every
// listener limit) and flags/env for the common ones, validated into createDataPlane's `limits`.
import { TrellisError } from '../../common/errors.js';
import { DEFAULT_H2_LIMITS, type H2Limits } from '../h2/h2-limits.js';
import { DEFAULT_H1_LIMITS, type H1Limits } from '../http/h1-types.js';
import { DEFAULT_LISTENER_LIMITS } from '../listener/limits.js';

/** What createDataPlane takes as `limits`: anything left out keeps its default. */
export interface ProxyLimits {
  readonly requestHeadersTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly streamIdleTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly h1?: Partial<H1Limits>;
  readonly h2?: Partial<H2Limits>;
}

type Section = 'top' | 'h1' | 'h2';
type Bounds = readonly [min: number, max: number];

const MAX = 2 ** 31 - 1;
const TOP: Record<string, Bounds> = {
  requestHeadersTimeoutMs: [1, MAX],
  idleTimeoutMs: [1, MAX],
  streamIdleTimeoutMs: [0, MAX],
  maxConnections: [1, 10_000_000],
};
const H1: Record<keyof H1Limits, Bounds> = {
  maxHeaderBytes: [256, 16 * 1024 * 1024],
  maxHeaderCount: [1, 10_000],
  maxRequestLineBytes: [16, 16 * 1024 * 1024],
  maxChunkExtensionBytes: [0, 1024 * 1024],
  maxChunkSize: [1, 2 ** 53 - 1],
};
const H2: Record<keyof H2Limits, Bounds> = {
  maxConcurrentStreams: [1, 2 ** 32 - 1],
  maxHeaderListSize: [1024, 2 ** 32 - 1],
  maxHeaderListPairs: [4, 100_000],
  maxSessionInvalidFrames: [0, MAX],
  maxSessionRejectedStreams: [0, MAX],
  maxOutstandingPings: [1, MAX],
  maxSettings: [1, 4096],
  rapidResetLimit: [1, MAX],
  rapidResetWindowMs: [1, MAX],
  maxSessionMemoryMb: [1, 1024 * 1024],
  prefaceTimeoutMs: [1, MAX],
  connectionWindowSize: [65_535, 2 ** 31 - 1],
};
const SECTIONS: Record<Section, Record<string, Bounds>> = { top: TOP, h1: H1, h2: H2 };
const DEFAULTS: Record<Section, Readonly<Record<string, number>>> = {
  top: DEFAULT_LISTENER_LIMITS as unknown as Record<string, number>,
  h1: DEFAULT_H1_LIMITS as unknown as Record<string, number>,
  h2: DEFAULT_H2_LIMITS as unknown as Record<string, number>,
};

export interface LimitFlag {
  readonly flag: string;
  readonly env: string;
  readonly section: Section;
  readonly key: string;
  readonly help: string;
}

const L = (flag: string, section: Section, key: string, help: string): LimitFlag => ({
  flag,
  env: `TRELLIS_${flag.toUpperCase().replace(/-/g, '_')}`,
  section,
  key,
  help: `${help} (default ${DEFAULTS[section][key]})`,
});

/** The common limits, also settable as flags and env vars (the file's `limits` section has all). */
export const LIMIT_FLAGS: readonly LimitFlag[] = [
  L('max-connections', 'top', 'maxConnections', 'connections per listener; more are refused'),
  L('request-headers-timeout-ms', 'top', 'requestHeadersTimeoutMs', 'time to send a request head (408)'),
  L('idle-timeout-ms', 'top', 'idleTimeoutMs', 'idle keep-alive connections are closed after this'),
  L(
    'stream-idle-timeout-ms',
    'top',
    'streamIdleTimeoutMs',
    'a request or tunnel with no byte moving either way is ended (504 / cut); 0 = off',
  ),
  L('max-header-bytes', 'h1', 'maxHeaderBytes', 'HTTP/1 request head size (431)'),
  L('max-header-count', 'h1', 'maxHeaderCount', 'HTTP/1 header fields per request (431)'),
  L('h2-max-concurrent-streams', 'h2', 'maxConcurrentStreams', 'HTTP/2 streams per connection'),
];

const bad = (msg: string): never => {
  throw new TrellisError('BAD_REQUEST', msg);
};

function whole(value: unknown, from: string, [min, max]: Bounds): number {
  const s = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max)
    bad(`${from}: must be a whole number ${min}-${max} (got ${JSON.stringify(value)})`);
  return Number(s);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function section(obj: unknown, sec: Section, from: string): Record<string, number> {
  if (!isObject(obj)) return bad(`${from}: must be an object of limits (got ${JSON.stringify(obj)})`);
  const bounds = SECTIONS[sec];
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (sec === 'top' && (k === 'h1' || k === 'h2')) continue;
    const b = bounds[k];
    if (b === undefined) {
      const known = [...Object.keys(bounds), ...(sec === 'top' ? ['h1', 'h2'] : [])];
      bad(`${from}: unknown limit '${k}'; known limits are ${known.join(', ')}`);
    }
    if (v !== null && v !== undefined) out[k] = whole(v, `${from}.${k}`, b as Bounds);
  }
  return out;
}

/**
 * Merges the file's `limits` section (`fileFrom` names it, e.g. `proxy.yaml: limits`) with the
 * limit flags and env vars (flags > env > file). Throws a BAD_REQUEST naming the bad value.
 */
export function parseLimits(
  file: unknown,
  fileFrom: string,
  flags: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
): ProxyLimits {
  const out: Record<Section, Record<string, number>> = { top: {}, h1: {}, h2: {} };
  if (file !== undefined && file !== null) {
    out.top = section(file, 'top', fileFrom);
    const f = file as Record<string, unknown>;
    for (const sec of ['h1', 'h2'] as const)
      if (f[sec] !== undefined && f[sec] !== null) out[sec] = section(f[sec], sec, `${fileFrom}.${sec}`);
  }
  for (const l of LIMIT_FLAGS) {
    const e = env[l.env];
    if (flags[l.flag] !== undefined)
      out[l.section][l.key] = whole(flags[l.flag], `--${l.flag}`, SECTIONS[l.section][l.key] as Bounds);
    else if (e !== undefined && e !== '')
      out[l.section][l.key] = whole(e, l.env, SECTIONS[l.section][l.key] as Bounds);
  }
  return Object.freeze({
    ...out.top,
    ...(Object.keys(out.h1).length > 0 ? { h1: Object.freeze(out.h1) } : {}),
    ...(Object.keys(out.h2).length > 0 ? { h2: Object.freeze(out.h2) } : {}),
  });
}

/** Help rows for the limit flags (bootstrapHelp appends them). */
export function limitsHelp(): string[] {
  return [
    ...LIMIT_FLAGS.map((l) => `  --${l.flag} N `.padEnd(32) + `${l.help} [${l.env}]`),
    "  (the bootstrap file's `limits` section sets these and every other listener limit,",
    '   e.g. limits: { maxConnections: 5000, h1: { maxRequestLineBytes: 4096 }, h2: { rapidResetLimit: 100 } })',
  ];
}
