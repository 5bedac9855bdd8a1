// trellis grpc-agent's files: the bootstrap passes grpc-js-xds's own validation with the provider,
// files are replaced atomically with the right modes, renewals and bundle changes are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { AGENT_FILES, grpcBootstrap, syncIdentityFiles, writeFileAtomic } from './grpc-agent-files.js';
import type { IdentityChange, IdentityMaterial, IdentityProvider } from './sidecar-identity.js';

const opts = {
  dir: '/run/app/certs',
  xds: '127.0.0.1:15010',
  nodeId: 'frontend.default-grpc-host',
  namespace: 'default',
  service: 'frontend',
  refreshMs: 2500,
};

test('the bootstrap names the provider files and passes grpc-js-xds validation', () => {
  const b = grpcBootstrap(opts);
  const require = createRequire(import.meta.url);
  const { validateBootstrapConfig } = require('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as {
    validateBootstrapConfig(o: unknown): {
      node: { id: string; metadata: Record<string, unknown> };
      certificateProviders: Record<
        string,
        { pluginName: string; config: { certificateFile: string; refreshIntervalMs: number } }
      >;
    };
  };
  const v = validateBootstrapConfig(b);
  assert.equal(v.node.id, opts.nodeId);
  // As a protobuf Struct (what the control plane receives).
  const fields = (v.node.metadata as { fields: Record<string, { stringValue: string }> }).fields;
  assert.deepEqual(Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.stringValue])), {
    NAMESPACE: 'default',
    SERVICE: 'frontend',
    CERT_PROVIDER: 'trellis',
  });
  assert.equal(v.certificateProviders['trellis']?.pluginName, 'file_watcher');
  assert.equal(v.certificateProviders['trellis']?.config.certificateFile, '/run/app/certs/cert-chain.pem');
  assert.equal(v.certificateProviders['trellis']?.config.refreshIntervalMs, 2500);
});

test('writeFileAtomic: exact mode whatever the umask, no temp file left, replaces in place', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  try {
    const p = join(dir, 'key.pem');
    await writeFileAtomic(p, 'one', 0o600);
    await writeFileAtomic(p, 'two', 0o600);
    assert.equal(await readFile(p, 'utf8'), 'two');
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    await writeFileAtomic(join(dir, 'roots.pem'), 'r', 0o644);
    assert.equal((await stat(join(dir, 'roots.pem'))).mode & 0o777, 0o644);
    assert.deepEqual((await readdir(dir)).sort(), ['key.pem', 'roots.pem']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function fakeIdentity(): IdentityProvider & { change(m: IdentityMaterial, why: IdentityChange): void } {
  let cur: IdentityMaterial | undefined;
  const ls = new Set<(m: IdentityMaterial, why: IdentityChange) => void>();
  let ready: ((m: IdentityMaterial) => void) | undefined;
  const whenReady = new Promise<IdentityMaterial>((r) => (ready = r));
  return {
    current: () => cur,
    whenReady: () => whenReady,
    onChange(cb) {
      ls.add(cb);
      return () => ls.delete(cb);
    },
    change(m, why) {
      cur = m;
      ready?.(m);
      for (const l of ls) l(m, why);
    },
  };
}
const material = (n: number, bundle = 'roots-1'): IdentityMaterial =>
  ({
    spiffeId: 'spiffe://cluster.local/ns/default/sa/frontend',
    keyPem: `key-${n}`,
    certChainPem: `chain-${n}`,
    trustBundlePem: bundle,
    serialNumber: String(n),
    notBefore: new Date(0),
    notAfter: new Date(86_400_000),
  }) as IdentityMaterial;

test('syncIdentityFiles: files before the bootstrap, then every renewal and bundle change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  const out = join(dir, 'out');
  try {
    const id = fakeIdentity();
    const syncing = syncIdentityFiles(id, { ...opts, dir: out }, silentLogger());
    id.change(material(1), 'issued');
    const s = await syncing;
    const read = (f: string) => readFile(join(out, f), 'utf8');
    assert.equal(await read(AGENT_FILES.key), 'key-1');
    assert.equal(await read(AGENT_FILES.chain), 'chain-1');
    assert.equal(await read(AGENT_FILES.roots), 'roots-1');
    assert.equal((await stat(out)).mode & 0o777, 0o700);
    assert.equal((await stat(join(out, AGENT_FILES.key))).mode & 0o777, 0o600);
    const b = JSON.parse(await read(AGENT_FILES.bootstrap)) as { xds_servers: { server_uri: string }[] };
    assert.equal(b.xds_servers[0]?.server_uri, '127.0.0.1:15010');
    id.change(material(2), 'renewed');
    id.change(material(2, 'roots-1\nroots-2'), 'trust-bundle');
    const deadline = Date.now() + 2000;
    while ((await read(AGENT_FILES.roots)) !== 'roots-1\nroots-2' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(await read(AGENT_FILES.key), 'key-2');
    assert.equal(await read(AGENT_FILES.chain), 'chain-2');
    assert.equal(await read(AGENT_FILES.roots), 'roots-1\nroots-2');
    s.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
