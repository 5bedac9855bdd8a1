// Limits in the sidecar bootstrap: the file's `limits` section, the limit flags and env vars
// (flags > env > file), and errors that name the bad key and say what is valid.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TrellisError } from '../../common/errors.js';
import { listenerLimits } from '../listener/limits.js';
import { parseBootstrap, bootstrapHelp, type BootstrapSources } from './bootstrap.js';

const parse = (argv: string[], rest: Partial<BootstrapSources> = {}) =>
  parseBootstrap({ argv: ['--service', 'web', ...argv], env: {}, hostname: 'box', pid: 1, ...rest });
const withFile = (text: string, argv: string[] = [], env: Record<string, string> = {}) =>
  parse(['--bootstrap', 'p.yaml', ...argv], { env, readFile: () => text });

function fails(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TrellisError);
    assert.equal(e.code, 'BAD_REQUEST');
    assert.match(e.message, message);
    return true;
  });
}

describe('bootstrap limits', () => {
  test('none given: empty, so every default applies', () => {
    assert.deepEqual({ ...parse([]).limits }, {});
  });

  test('flags set the common limits', () => {
    const b = parse([
      '--max-connections',
      '50',
      '--request-headers-timeout-ms',
      '2000',
      '--idle-timeout-ms',
      '30000',
      '--max-header-bytes',
      '8192',
      '--max-header-count',
      '40',
      '--h2-max-concurrent-streams',
      '10',
    ]);
    assert.deepEqual(JSON.parse(JSON.stringify(b.limits)), {
      maxConnections: 50,
      requestHeadersTimeoutMs: 2000,
      idleTimeoutMs: 30000,
      h1: { maxHeaderBytes: 8192, maxHeaderCount: 40 },
      h2: { maxConcurrentStreams: 10 },
    });
    const l = listenerLimits(b.limits);
    assert.equal(l.h1.maxRequestLineBytes, 8192, 'unset limits keep their defaults');
    assert.equal(l.h2.maxConcurrentStreams, 10);
    assert.equal(l.h2.maxHeaderListSize, 64 * 1024);
  });

  test('stream idle timeout: 5 min by default, flag / env / file, 0 turns it off', () => {
    assert.equal(listenerLimits(parse([]).limits).streamIdleTimeoutMs, 300_000);
    assert.equal(parse(['--stream-idle-timeout-ms', '0']).limits.streamIdleTimeoutMs, 0);
    assert.equal(
      parse([], { env: { TRELLIS_STREAM_IDLE_TIMEOUT_MS: '1500' } }).limits.streamIdleTimeoutMs,
      1500,
    );
    assert.equal(withFile('service: web\nlimits:\n  streamIdleTimeoutMs: 0\n').limits.streamIdleTimeoutMs, 0);
    fails(
      () => parse(['--stream-idle-timeout-ms', '5m']),
      /--stream-idle-timeout-ms: must be a whole number 0-2147483647 \(got "5m"\)/,
    );
    assert.match(
      bootstrapHelp(),
      /--stream-idle-timeout-ms N .*\(default 300000\) \[TRELLIS_STREAM_IDLE_TIMEOUT_MS\]/,
    );
  });

  test('the file section sets any limit; flags > env > file', () => {
    const file = [
      'service: web',
      'limits:',
      '  maxConnections: 7',
      '  idleTimeoutMs: 1000',
      '  h1: { maxRequestLineBytes: 4096, maxHeaderCount: 10 }',
      '  h2: { rapidResetLimit: 50, maxConcurrentStreams: 20 }',
    ].join('\n');
    const b = withFile(file, ['--max-header-count', '12'], {
      TRELLIS_MAX_CONNECTIONS: '9',
      TRELLIS_MAX_HEADER_COUNT: '11',
    });
    assert.deepEqual(JSON.parse(JSON.stringify(b.limits)), {
      maxConnections: 9,
      idleTimeoutMs: 1000,
      h1: { maxRequestLineBytes: 4096, maxHeaderCount: 12 },
      h2: { rapidResetLimit: 50, maxConcurrentStreams: 20 },
    });
  });

  test('bad values name their source and the valid range', () => {
    fails(() => parse(['--max-connections', '0']), /--max-connections: must be a whole number 1-/);
    fails(() => parse(['--max-header-bytes', '1k']), /--max-header-bytes: .*\(got "1k"\)/);
    fails(
      () => parse([], { env: { TRELLIS_IDLE_TIMEOUT_MS: '-5' } }),
      /TRELLIS_IDLE_TIMEOUT_MS: must be a whole number/,
    );
    fails(() => withFile('limits:\n  maxConnections: 1.5'), /p\.yaml: limits\.maxConnections: must be/);
    fails(() => withFile('limits:\n  h2: { maxConcurrentStreams: -1 }'), /limits\.h2\.maxConcurrentStreams/);
    fails(() => withFile('limits: 5'), /p\.yaml: limits: must be an object of limits/);
    fails(() => withFile('limits:\n  h1: [1]'), /limits\.h1: must be an object/);
  });

  test('unknown limits are named, with the known ones', () => {
    fails(
      () => withFile('limits:\n  maxConns: 5'),
      /unknown limit 'maxConns'; known limits are .*maxConnections/,
    );
    fails(
      () => withFile('limits:\n  h1: { maxHeaders: 5 }'),
      /limits\.h1: unknown limit 'maxHeaders'.*maxHeaderCount/,
    );
  });

  test('help lists the limit flags with their env vars and defaults', () => {
    const h = bootstrapHelp();
    assert.match(h, /--max-connections N .*default 10000.*\[TRELLIS_MAX_CONNECTIONS\]/);
    assert.match(h, /--h2-max-concurrent-streams N .*default 100\b.*\[TRELLIS_H2_MAX_CONCURRENT_STREAMS\]/);
    assert.match(h, /limits:/);
  });
});
