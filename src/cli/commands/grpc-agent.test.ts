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
