// Bootstrap parsing: defaults, precedence (flags > env > file > defaults), file formats, and
// errors that name the flag, variable or file key and say what is valid.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TrellisError } from '../../common/errors.js';
import { parseBootstrap, type BootstrapSources } from './bootstrap.js';

const parse = (argv: string[], rest: Partial<BootstrapSources> = {}) =>
  parseBootstrap({ argv, env: {}, hostname: 'box', pid: 42, ...rest });

function fails(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TrellisError);
    assert.equal(e.code, 'BAD_REQUEST');
    assert.match(e.message, message);
    return true;
  });
}

describe('parseBootstrap', () => {
  test('defaults for everything but the service', () => {
    const b = parse(['--service', 'reviews']);
    assert.deepEqual(
      { ...b },
      {
        service: 'reviews',
        namespace: 'default',
        nodeId: 'reviews-box-42',
        labels: {},
        controlPlane: '127.0.0.1:15010',
        api: 'http://127.0.0.1:15000',
        appPort: 8080,
        appAddress: '127.0.0.1',
        inboundPort: 15006,
        outboundPort: 15001,
        adminPort: 15020,
        adminAddress: '127.0.0.1',
        instanceIp: '127.0.0.1',
        drainSeconds: 10,
        ttlSeconds: 15,
        appProbePeriodMs: 1000,
        appProbeTimeoutMs: 1000,
        upstreams: [],
        limits: {},
      },
    );
    assert.ok(Object.isFrozen(b) && Object.isFrozen(b.labels));
  });

  test('--upstream is repeatable; TRELLIS_UPSTREAMS and the file take comma-separated lists', () => {
    const b = parse([
      '--service',
      'web',
      '--upstream',
      'reviews:9080=15080',
      '--upstream',
      'db.data:5432=15432',
    ]);
    assert.deepEqual(b.upstreams, [
      { service: 'reviews', port: 9080, localPort: 15080 },
      { service: 'db', namespace: 'data', port: 5432, localPort: 15432 },
    ]);
    const e = parse(['--service', 'web'], { env: { TRELLIS_UPSTREAMS: 'a:80=18080, b.ns:81=18081' } });
    assert.deepEqual(
      e.upstreams.map((u) => u.localPort),
      [18080, 18081],
    );
    const f = parse(['--service', 'web', '--bootstrap', 'p.json'], {
      readFile: () => JSON.stringify({ upstreams: ['a:80=18080'] }),
    });
    assert.equal(f.upstreams[0]?.service, 'a');
    fails(
      () => parse(['--service', 'web', '--upstream', 'reviews=15080']),
      /--upstream: must be NAME\[\.NAMESPACE\]:PORT=LOCALPORT/,
    );
    fails(() => parse(['--service', 'web', '--upstream', 'a:80=9,b:81=9']), /local port 9 is given twice/);
    fails(
      () => parse(['--service', 'web', '--upstream', 'a:80=15001']),
      /local port 15001 is also --outbound-port/,
    );
  });

  test('every flag', () => {
    const b = parse([
      '--service=reviews',
      '--namespace',
      'shop',
      '--node-id',
      'reviews-1',
      '--labels',
      'version=v1, app.kubernetes.io/tier=backend',
      '--control-plane',
      'cp.local:1234',
      '--api',
      'https://cp.local:8443/',
      '--app-port',
      '9080',
      '--app-address',
      'localhost',
      '--inbound-port',
      '1',
      '--outbound-port',
      '2',
      '--admin-port',
      '0',
      '--instance-ip',
      '::1',
      '--app-ready-path',
      '/healthz',
      '--drain-seconds',
      '2.5',
      '--ttl-seconds',
      '30',
      '--ca-bundle',
      'bundle.pem',
      '--token-file',
      'web.token',
    ]);
    assert.equal(b.caBundle, 'bundle.pem');
    assert.equal(b.namespace, 'shop');
    assert.equal(b.nodeId, 'reviews-1');
    assert.deepEqual(b.labels, { version: 'v1', 'app.kubernetes.io/tier': 'backend' });
    assert.equal(b.controlPlane, 'cp.local:1234');
    assert.equal(b.api, 'https://cp.local:8443');
    assert.deepEqual([b.appPort, b.inboundPort, b.outboundPort, b.adminPort], [9080, 1, 2, 0]);
    assert.equal(b.appAddress, 'localhost');
    assert.equal(b.instanceIp, '::1');
    assert.equal(b.appReadyPath, '/healthz');
    assert.equal(b.drainSeconds, 2.5);
    assert.equal(b.ttlSeconds, 30);
  });

  test('control plane transport: TLS with --ca-bundle (secure port defaults), plaintext on loopback only', () => {
    const plain = parse(['--service', 'web']);
    assert.equal(plain.controlPlane, '127.0.0.1:15010');
    assert.equal(plain.api, 'http://127.0.0.1:15000');
    assert.equal(plain.caBundle, undefined);
    const tls = parse(['--service', 'web'], {
      env: { TRELLIS_CA_BUNDLE: '/d/ca/bundle.pem', TRELLIS_TOKEN_FILE: '/d/web.token' },
    });
    assert.equal(tls.caBundle, '/d/ca/bundle.pem');
    assert.equal(tls.controlPlane, '127.0.0.1:15012');
    assert.equal(tls.api, 'https://127.0.0.1:15012', 'the API defaults to the same secure port');
    const remote = parse(
      ['--service', 'web', '--ca-bundle', 'b.pem', '--control-plane', 'cp.example:15012'],
      { env: { TRELLIS_TOKEN: 'tbt1.x' } },
    );
    assert.equal(remote.api, 'https://cp.example:15012');
    // A trust bundle without a token could never get config from the TLS port: refused at start.
    for (const argv of [
      ['--service', 'web', '--ca-bundle', 'b.pem'],
      ['--gateway', 'edge', '--ca-bundle', 'b.pem'],
    ])
      fails(
        () => parse(argv),
        /--ca-bundle needs --token-file FILE \(or TRELLIS_TOKEN_FILE, or TRELLIS_TOKEN\)/,
      );
    fails(
      () => parse(['--service', 'web'], { env: { TRELLIS_CA_BUNDLE: 'b.pem', TRELLIS_TOKEN: '  ' } }),
      /TRELLIS_CA_BUNDLE needs --token-file/,
    );
    assert.equal(parse(['--service', 'web', '--control-plane', '[::1]:15010']).controlPlane, '[::1]:15010');
    fails(
      () => parse(['--service', 'web', '--control-plane', '10.0.0.5:15010']),
      /--control-plane: 10\.0\.0\.5:15010 is not on this machine.*--ca-bundle/,
    );
    fails(
      () => parse(['--service', 'web', '--ca-bundle', 'b.pem', '--api', 'http://10.0.0.5:15000']),
      /--api: http:\/\/10\.0\.0\.5:15000 is plaintext HTTP to another machine/,
    );
    fails(
      () => parse(['--service', 'web', '--api', 'https://127.0.0.1:15012']),
      /an https:\/\/ API needs --ca-bundle/,
    );
  });

  test('precedence: flags > env > file > defaults', () => {
    const file =
      'service: fromfile\nappPort: 1111\ninboundPort: 2222\noutboundPort: 3333\nlabels: { a: file }\n';
    const b = parse(['--app-port', '1000', '--bootstrap', 'proxy.yaml'], {
      env: {
        TRELLIS_APP_PORT: '2000',
        TRELLIS_INBOUND_PORT: '2001',
        TRELLIS_SERVICE: 'fromenv',
        TRELLIS_NAMESPACE: '',
      },
      readFile: (p) => (p === 'proxy.yaml' ? file : ''),
    });
    assert.equal(b.appPort, 1000);
    assert.equal(b.inboundPort, 2001);
    assert.equal(b.outboundPort, 3333);
    assert.equal(b.service, 'fromenv');
    assert.equal(b.namespace, 'default', 'an empty env var counts as unset');
    assert.deepEqual(b.labels, { a: 'file' });
    assert.equal(b.adminPort, 15020);
    assert.equal(b.nodeId, 'fromenv-box-42');
    assert.equal(b.bootstrapFile, 'proxy.yaml');
  });

  test('JSON bootstrap file from TRELLIS_BOOTSTRAP', () => {
    const b = parse([], {
      env: { TRELLIS_BOOTSTRAP: '/etc/p.json' },
      readFile: () => JSON.stringify({ service: 'ratings', labels: 'version=v2', drainSeconds: 3 }),
    });
    assert.equal(b.service, 'ratings');
    assert.deepEqual(b.labels, { version: 'v2' });
    assert.equal(b.drainSeconds, 3);
  });

  test('errors name their source and what is valid', () => {
    fails(() => parse([]), /--service NAME is required/);
    fails(() => parse(['--service', 'Reviews']), /--service: must be a DNS label.*"Reviews"/);
    fails(
      () => parse(['--service', 'r', '--app-port', '99999']),
      /--app-port: must be a port number 0-65535.*"99999"/,
    );
    fails(() => parse(['--service', 'r', '--app-port', '80x']), /--app-port: must be a port number/);
    fails(
      () => parse(['--service', 'r'], { env: { TRELLIS_INBOUND_PORT: '0' } }),
      /TRELLIS_INBOUND_PORT: must be a port number 1-65535/,
    );
    fails(
      () => parse(['--service', 'r', '--control-plane', 'localhost']),
      /--control-plane: must be HOST:PORT/,
    );
    fails(
      () => parse(['--service', 'r', '--api', 'ftp://x']),
      /--api: must be an http:\/\/ or https:\/\/ URL/,
    );
    fails(
      () => parse(['--service', 'r', '--instance-ip', 'myhost']),
      /--instance-ip: must be an IPv4 or IPv6 address/,
    );
    fails(
      () => parse(['--service', 'r', '--labels', 'novalue']),
      /--labels: must be labels k=v.*'novalue' has no '='/,
    );
    fails(() => parse(['--service', 'r', '--labels', 'a=1,a=2']), /--labels: .*'a' is given twice/);
    fails(
      () => parse(['--service', 'r', '--app-ready-path', 'healthz']),
      /--app-ready-path: must be an HTTP path starting with '\/'/,
    );
    fails(
      () => parse(['--service', 'r', '--drain-seconds=-1']),
      /--drain-seconds: must be a number of seconds 0-3600/,
    );
    fails(
      () => parse(['--service', 'r', '--app-probe-timeout-ms', '5']),
      /--app-probe-timeout-ms: must be whole milliseconds 10-300000 \(got "5"\)/,
    );
    fails(() => parse(['--service', 'r', '--node-id=-x']), /--node-id: must be letters, digits/);
    fails(
      () => parse(['--service', 'r', '--inbound-port', '7', '--outbound-port', '7']),
      /--inbound-port and --outbound-port must differ/,
    );
    fails(() => parse(['--service', 'r', '--bogus', '1']), /trellis proxy: Unknown option '--bogus'/);
    fails(
      () => parse(['--bootstrap', 'b.yaml'], { readFile: () => 'service: r\nappport: 1\n' }),
      /bootstrap file 'b.yaml': unknown setting 'appport'; known settings are service, namespace/,
    );
    fails(
      () => parse(['--bootstrap', 'b.yaml'], { readFile: () => 'service: r\nappPort: -3\n' }),
      /b\.yaml: appPort: must be a port number/,
    );
    fails(
      () => parse(['--bootstrap', 'b.yaml'], { readFile: () => '[1, 2]' }),
      /must hold an object of settings/,
    );
    fails(
      () => parse(['--bootstrap', 'b.json'], { readFile: () => '{' }),
      /'b\.json' is not valid JSON or YAML/,
    );
    fails(
      () =>
        parse(['--bootstrap', 'missing.yaml'], {
          readFile: () => {
            throw new Error('ENOENT');
          },
        }),
      /--bootstrap: cannot read bootstrap file 'missing\.yaml': ENOENT/,
    );
  });

  test('gateway mode: --gateway (or TRELLIS_GATEWAY) instead of --service, no app', () => {
    const b = parse(['--gateway', 'edge', '--namespace', 'infra', '--admin-port', '0']);
    assert.equal(b.gateway, 'edge');
    assert.equal(b.namespace, 'infra');
    assert.equal(b.service, '');
    assert.equal(b.appPort, 0);
    assert.equal(b.nodeId, 'gateway-edge-box-42');
    assert.equal(parse([], { env: { TRELLIS_GATEWAY: 'edge' } }).gateway, 'edge');
    assert.equal(parse(['--gateway', 'edge'], { readFile: () => 'gateway: x' }).gateway, 'edge');
    assert.equal(parse(['--bootstrap', 'g.yaml'], { readFile: () => 'gateway: gw' }).gateway, 'gw');
  });

  test('gateway mode refuses sidecar-only settings, naming where they came from', () => {
    fails(() => parse(['--gateway', 'edge', '--service', 'web']), /--service cannot be used with --gateway/);
    fails(
      () => parse(['--gateway', 'edge'], { env: { TRELLIS_APP_PORT: '3000' } }),
      /TRELLIS_APP_PORT cannot be used with --gateway/,
    );
    fails(() => parse(['--gateway', 'edge', '--upstream', 'a:80=9000']), /--upstream cannot be used/);
    fails(() => parse(['--gateway', 'Edge']), /--gateway: must be a DNS label/);
    fails(() => parse([]), /--service NAME is required.*--gateway NAME instead/);
  });
});
