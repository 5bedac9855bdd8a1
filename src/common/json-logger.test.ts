// The sidecar's JSON logger writes what the pino root logger of createLogger writes: each case is
// logged through both (pino with the same options, into a capturing stream) and the lines must be
// equal but for the time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createJsonLogger } from './json-logger.js';
import { REDACT_PATHS, type Logger } from './logger.js';

function pair(level = 'debug'): { pinoLog: Logger; jsonLog: Logger; lines: () => [string[], string[]] } {
  const a: string[] = [];
  const b: string[] = [];
  const pinoLog = pino(
    { name: 'trellis-proxy', level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS } },
    { write: (s: string) => void a.push(s) },
  );
  const jsonLog = createJsonLogger({
    name: 'trellis-proxy',
    level,
    write: (s) => void b.push(s),
    now: () => 42,
  });
  const noTime = (s: string): string => s.replace(/"time":\d+/, '"time":0');
  return { pinoLog, jsonLog, lines: () => [a.map(noTime), b.map(noTime)] };
}

type Case = (l: Logger) => void;

const withCause = new Error('outer', { cause: new TypeError('inner') });
const sysErr = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
  code: 'ECONNREFUSED',
  errno: -111,
  syscall: 'connect',
});
const direct = new Error('direct');
const rangeErr = new RangeError('out of range');
const aggregate = new AggregateError([new Error('one'), new Error('two')], 'both');
const circular: Record<string, unknown> = { a: 1 };
circular['self'] = circular;

const CASES: Record<string, Case> = {
  'object and message': (l) => l.info({ a: 1, b: 'x', c: true, d: null, e: [1, 'two'] }, 'hello'),
  'message only': (l) => l.warn('plain message'),
  'every level': (l) => {
    l.trace('t');
    l.debug('d');
    l.info('i');
    l.warn('w');
    l.error('e');
    l.fatal('f');
  },
  'child bindings, nested children': (l) =>
    l.child({ component: 'proxy', nodeId: 'n1' }).child({ x: 2 }).info({ y: 3 }, 'm'),
  'redaction: top level, one level down, in bindings': (l) =>
    l.child({ token: 'secret' }).info(
      {
        token: 'a',
        authorization: 'Bearer b',
        privateKey: 'k',
        nested: { token: 'c', keep: 1 },
        deep: { x: { token: 'd' } },
      },
      'redacted',
    ),
  'Error as the object': (l) => l.error(direct),
  'Error as the object, with a message': (l) => l.error(direct, 'failed'),
  'err: Error with properties and a cause': (l) => {
    l.warn({ err: sysErr, listener: 'inbound' }, 'listener could not bind');
    l.warn({ err: withCause });
  },
  'err: a string': (l) => l.error({ err: 'just text' }, 'x'),
  'err without a message uses its message': (l) => l.error({ err: rangeErr }),
  'aggregate error': (l) => l.error({ err: aggregate }, 'agg'),
  'undefined, functions, non-finite numbers': (l) =>
    l.info({ u: undefined, f: () => 1, n: NaN, i: Infinity, z: -0, big: 1e21 }, 'values'),
  'msg key in the object': (l) => {
    l.info({ msg: 'inner' });
    l.info({ a: 1, msg: 'inner' }, 'outer');
  },
  'printf-style arguments': (l) => l.info('a %s b %d c %j d %% e %s', 'str', 42, { k: [1] }),
  'strings that need escaping': (l) =>
    l.info({ 'we"ird\nkey': 'line\nbreak "quoted" \u0001 é' }, 'tab\there'),
  'no arguments': (l) => (l.info as (...a: unknown[]) => void)(),
};

describe('createJsonLogger: the same lines as pino', () => {
  for (const [name, run] of Object.entries(CASES))
    it(name, () => {
      const p = pair();
      run(p.pinoLog);
      run(p.jsonLog);
      const [fromPino, fromJson] = p.lines();
      assert.deepEqual(fromJson, fromPino);
    });

  it('leaves out levels below the configured one', () => {
    const p = pair('warn');
    CASES['every level']!(p.pinoLog);
    CASES['every level']!(p.jsonLog);
    const [fromPino, fromJson] = p.lines();
    assert.equal(fromJson.length, 3);
    assert.deepEqual(fromJson, fromPino);
  });

  it('writes a circular object with "[Circular]" (pino marks it one level further down)', () => {
    const lines: string[] = [];
    createJsonLogger({ write: (s) => void lines.push(s) }).info({ circular }, 'circ');
    assert.deepEqual((JSON.parse(lines[0]!) as { circular: unknown }).circular, { a: 1, self: '[Circular]' });
  });

  it('refuses an unknown level, naming the valid ones', () => {
    assert.throws(
      () => createJsonLogger({ level: 'loud' }),
      /unknown log level "loud": use one of trace, debug, info/,
    );
  });

  it('writes to stdout synchronously, so lines logged right before process.exit are not lost', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { createJsonLogger } = await import(${JSON.stringify(new URL('./json-logger.js', import.meta.url).href)});
         const l = createJsonLogger({ name: 'n' });
         for (let i = 0; i < 2000; i++) l.info({ i }, 'line');
         process.exit(0);`,
      ],
      { encoding: 'utf8', timeout: 20_000, maxBuffer: 64 * 1024 * 1024 },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2000);
    assert.deepEqual(Object.keys(JSON.parse(lines[1999]!) as object), [
      'level',
      'time',
      'pid',
      'name',
      'i',
      'msg',
    ]);
  });
});
