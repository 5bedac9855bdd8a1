// The sidecar's logger: the same JSON lines as the pino root logger of `createLogger` (same keys,
// order, levels, `err` serializer and redacted paths), written synchronously to stdout, in one small
// module. pino brings ~20 CommonJS files, node:worker_threads, node:assert and an async stream
// (about 1.5 MB of a sidecar's idle RSS, docs/sidecar.md "Memory"); a sidecar logs a few lines a
// minute when healthy. The control plane keeps pino.
//
// A line: {"level":30,"time":<ms>,"pid":<pid>,"name":"<name>",<child bindings>,<object keys>,"msg":"<msg>"}
// - `logger.info(obj, msg, ...args)` or `logger.info(msg, ...args)`; printf-style %s %d %i %f %j
//   %o %O %% in msg, as pino's formatter.
// - An Error as the object logs `{"err": <serialized>}`, with its message as msg by default.
// - `err` values are serialized as pino-std-serializers does: type, message and stack (with their
//   causes), aggregateErrors, then the error's other enumerable properties.
// - Keys `token`, `authorization` and `privateKey`, at the top level or one object down, print as
//   "[Redacted]" (in bindings too).
// - Undefined and function values are left out; non-finite numbers print as null.
import { writeSync } from 'node:fs';
import type { LogFn, Logger } from './logger.js';

const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

const REDACTED_KEYS = new Set(['token', 'authorization', 'privateKey']);
const CENSOR = '"[Redacted]"';

export interface JsonLoggerOptions {
  readonly name?: string;
  /** Default: TRELLIS_LOG_LEVEL, else info. */
  readonly level?: string;
  /** Where lines go (each ends with "\n"); default: written synchronously to fd 1. */
  readonly write?: (line: string) => void;
  /** Clock for "time" (ms since the epoch). */
  readonly now?: () => number;
}

/** Writes a line to stdout; waits out EAGAIN (a non-blocking pipe that is full); drops it on EPIPE. */
function writeStdout(line: string): void {
  let buf = Buffer.from(line);
  for (let tries = 0; buf.length > 0 && tries < 1000; tries++) {
    try {
      const n = writeSync(1, buf);
      buf = buf.subarray(n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

const isErrorLike = (v: unknown): v is Error =>
  typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string';

function causeOf(e: Error): Error | undefined {
  const c = (e as { cause?: unknown }).cause;
  const v = typeof c === 'function' ? (c as () => unknown)() : c;
  return isErrorLike(v) ? v : undefined;
}

function stackWithCauses(e: Error, seen = new Set<Error>()): string {
  const stack = e.stack ?? '';
  if (seen.has(e)) return stack + '\ncauses have become circular...';
  const cause = causeOf(e);
  if (!cause) return stack;
  seen.add(e);
  return stack + '\ncaused by: ' + stackWithCauses(cause, seen);
}

function messageWithCauses(e: Error, seen = new Set<Error>(), skip = false): string {
  const message = skip ? '' : e.message || '';
  if (seen.has(e)) return message + ': ...';
  const cause = causeOf(e);
  if (!cause) return message;
  seen.add(e);
  // pino-std-serializers: an error whose own message already names the cause does not repeat it.
  const skipIfVErrorStyle = typeof (e as { cause?: unknown }).cause === 'function';
  return message + (skipIfVErrorStyle ? '' : ': ') + messageWithCauses(cause, seen, skipIfVErrorStyle);
}

function serializeErr(e: unknown, inProgress = new Set<unknown>()): unknown {
  if (!isErrorLike(e)) return e;
  inProgress.add(e);
  const ctor = (e as { constructor?: unknown }).constructor;
  const out: Record<string, unknown> = {
    type: typeof ctor === 'function' ? ctor.name : e.name,
    message: messageWithCauses(e),
    stack: stackWithCauses(e),
  };
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors)) out['aggregateErrors'] = errors.map((x) => serializeErr(x, inProgress));
  for (const key in e) {
    if (out[key] !== undefined) continue;
    const v = (e as unknown as Record<string, unknown>)[key];
    if (isErrorLike(v)) {
      if (key !== 'cause' && !inProgress.has(v)) out[key] = serializeErr(v, inProgress);
    } else out[key] = v;
  }
  inProgress.delete(e);
  return out;
}

function stringifyValue(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return safeStringify(v);
  }
}

/** JSON with circular references as "[Circular]" and bigints as numbers (pino's fallback). */
function safeStringify(v: unknown): string | undefined {
  const stack: unknown[] = [];
  return JSON.stringify(v, function (this: unknown, _k, val: unknown) {
    if (typeof val === 'bigint') return Number(val);
    if (typeof val !== 'object' || val === null) return val;
    while (stack.length > 0 && stack[stack.length - 1] !== this) stack.pop();
    if (stack.includes(val)) return '[Circular]';
    stack.push(val);
    return val;
  });
}

function redactNested(v: object): object {
  let copy: Record<string, unknown> | undefined;
  for (const k of REDACTED_KEYS) {
    if ((v as Record<string, unknown>)[k] === undefined || !Object.hasOwn(v, k)) continue;
    copy ??= Array.isArray(v) ? (Object.assign([], v) as unknown as Record<string, unknown>) : { ...v };
    copy[k] = '[Redacted]';
  }
  return copy ?? v;
}

/** `,"key":value` for each own enumerable key of obj, as pino's asJson writes them. */
function fields(obj: Record<string, unknown>): string {
  let out = '';
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    let v = obj[key];
    if (v === undefined) continue;
    if (key === 'err') v = serializeErr(v);
    let s: string | undefined;
    if (REDACTED_KEYS.has(key)) s = CENSOR;
    else
      switch (typeof v) {
        case 'undefined':
        case 'function':
          continue;
        case 'number':
          s = Number.isFinite(v) ? String(v) : 'null';
          break;
        case 'boolean':
          s = String(v);
          break;
        case 'string':
          s = JSON.stringify(v);
          break;
        default:
          s = stringifyValue(typeof v === 'object' && v !== null ? redactNested(v) : v);
      }
    if (s === undefined) continue;
    out += ',' + JSON.stringify(key) + ':' + s;
  }
  return out;
}

/** pino's (quick-format-unescaped) printf subset. */
function format(msg: string, args: readonly unknown[]): string {
  if (args.length === 0 || !msg.includes('%')) return msg;
  let i = 0;
  return msg.replace(/%([sdifjoO%])/g, (m, c: string) => {
    if (c === '%') return '%';
    if (i >= args.length) return m;
    const a = args[i++];
    switch (c) {
      case 's':
        return typeof a === 'object' && a !== null ? (stringifyValue(a) ?? String(a)) : String(a);
      case 'd':
      case 'f':
        return String(Number(a));
      case 'i':
        return String(Math.floor(Number(a)));
      default:
        return typeof a === 'function' ? a.name || '<anonymous>' : (stringifyValue(a) ?? String(a));
    }
  });
}

const NOOP: LogFn = () => undefined;

interface Shared {
  readonly head: string;
  readonly min: number;
  readonly write: (line: string) => void;
  readonly now: () => number;
}

class JsonLogger implements Logger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;

  constructor(
    private readonly shared: Shared,
    private readonly bindings: string,
  ) {
    const fn = (n: number): LogFn => (n >= shared.min ? this.logAt(n) : NOOP);
    this.trace = fn(10);
    this.debug = fn(20);
    this.info = fn(30);
    this.warn = fn(40);
    this.error = fn(50);
    this.fatal = fn(60);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new JsonLogger(this.shared, this.bindings + fields(bindings));
  }

  private logAt(level: number): LogFn {
    const prefix = `{"level":${level},"time":`;
    return (first?: unknown, ...rest: unknown[]): void => {
      let obj: Record<string, unknown> | undefined;
      let msg: unknown;
      if (typeof first === 'object' && first !== null) {
        msg = rest.shift();
        obj = first instanceof Error ? { err: first } : (first as Record<string, unknown>);
        if (msg === undefined) {
          if (first instanceof Error) msg = first.message;
          else if (obj['msg'] === undefined && obj['err'])
            msg = (obj['err'] as { message?: unknown }).message;
        }
      } else msg = first === undefined ? rest.shift() : first;
      const text = typeof msg === 'string' ? format(msg, rest) : msg;
      const body = obj ? fields(obj) : '';
      let m = '';
      if (typeof text === 'number') m = `,"msg":${Number.isFinite(text) ? text : null}`;
      else if (text !== undefined && typeof text !== 'function') m = `,"msg":${stringifyValue(text) ?? ''}`;
      const s = this.shared;
      s.write(prefix + s.now() + s.head + this.bindings + body + m + '}\n');
    };
  }
}

export function createJsonLogger(opts: JsonLoggerOptions = {}): Logger {
  const level = opts.level ?? process.env['TRELLIS_LOG_LEVEL'] ?? 'info';
  const min = LEVELS[level];
  if (min === undefined)
    throw new Error(
      `unknown log level ${JSON.stringify(level)}: use one of ${Object.keys(LEVELS).join(', ')}`,
    );
  const head =
    `,"pid":${process.pid}` + (opts.name !== undefined ? `,"name":${JSON.stringify(opts.name)}` : '');
  return new JsonLogger({ head, min, write: opts.write ?? writeStdout, now: opts.now ?? Date.now }, '');
}
