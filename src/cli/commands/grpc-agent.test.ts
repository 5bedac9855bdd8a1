// `trellis grpc-agent` flags: what is required, and the transport rules (plaintext only on loopback).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGrpcAgentArgs } from './grpc-agent.js';

test('grpc-agent flags: required ones, loopback xDS, plaintext API only on loopback', () => {
  const env = {};
  const base = ['--service', 'frontend', '--token-file', '/t', '--out', '/o'];
  const ok = parseGrpcAgentArgs(base, env);
  assert.ok(ok !== 'help');
  assert.equal(ok.xds, '127.0.0.1:15010');
  assert.equal(ok.api, 'http://127.0.0.1:15000');
  assert.equal(ok.refreshMs, 10_000);
  const withCa = parseGrpcAgentArgs([...base, '--ca-bundle', '/b.pem'], env);
  assert.ok(withCa !== 'help' && withCa.api === 'https://127.0.0.1:15012');
  const err = (args: string[], re: RegExp) => assert.throws(() => parseGrpcAgentArgs(args, env), re);
  err(['--token-file', '/t', '--out', '/o'], /--service NAME is required/);
  err(['--service', 'frontend', '--out', '/o'], /--token-file FILE is required/);
  err(['--service', 'frontend', '--token-file', '/t'], /--out DIR is required/);
  err([...base, '--xds', '10.0.0.1:15010'], /--xds: 10\.0\.0\.1 is not a loopback address/);
  err([...base, '--xds', 'nope'], /--xds: 'nope' is not HOST:PORT/);
  err([...base, '--api', 'http://10.0.0.1:15000'], /plaintext HTTP to another machine/);
  err([...base, '--api', 'https://cp:15012'], /needs --ca-bundle/);
  err([...base, '--refresh-interval', '1.5s'], /--refresh-interval: '1.5s' is not a duration/);
  err([...base, '--service', 'Front_End'], /--service: 'Front_End' is not a Service name/);
  assert.ok(parseGrpcAgentArgs(['--service', 'frontend', '--out', '/o'], { TRELLIS_TOKEN: 'x' }) !== 'help');
});

test('grpc-agent --serve: an IP literal and port clients reach, not with --once; --ttl-seconds bounds', () => {
  const env = {};
  const base = ['--service', 'inventory', '--token-file', '/t', '--out', '/o'];
  const v4 = parseGrpcAgentArgs([...base, '--serve', '127.0.0.1:50051'], env);
  assert.ok(v4 !== 'help');
  assert.deepEqual(v4.serve, { host: '127.0.0.1', port: 50051 });
  assert.equal(v4.ttlSeconds, 15);
  const v6 = parseGrpcAgentArgs([...base, '--serve', '[::1]:7', '--ttl-seconds', '30'], env);
  assert.ok(v6 !== 'help');
  assert.deepEqual(v6.serve, { host: '::1', port: 7 });
  assert.equal(v6.ttlSeconds, 30);
  const err = (args: string[], re: RegExp) =>
    assert.throws(() => parseGrpcAgentArgs([...base, ...args], env), re);
  err(['--serve', 'localhost:50051'], /--serve: 'localhost:50051' is not IP:PORT/);
  err(['--serve', '::1:50051'], /is not IP:PORT/);
  err(['--serve', '127.0.0.1:0'], /is not IP:PORT/);
  err(['--serve', '0.0.0.0:50051'], /--serve: 0\.0\.0\.0 is not an address clients can reach/);
  err(['--serve', '127.0.0.1:50051', '--once'], /cannot be used with --once/);
  err(['--ttl-seconds', '1'], /--ttl-seconds: '1' is not a whole number of seconds from 3 to 3600/);
  const labelled = parseGrpcAgentArgs(
    [...base, '--serve', '127.0.0.1:1', '--labels', 'version=v2, app=inv'],
    env,
  );
  assert.ok(labelled !== 'help');
  assert.deepEqual(labelled.labels, { version: 'v2', app: 'inv' });
  err(['--serve', '127.0.0.1:1', '--labels', 'version'], /--labels: 'version' is not k=v/);
  err(['--serve', '127.0.0.1:1', '--labels', 'a=1,a=2'], /--labels: 'a' is given twice/);
  err(['--labels', 'a=1'], /--labels are the registered instance's: they need --serve/);
});
