// trellis grpc-agent's files: the bootstrap passes grpc-js-xds's own validation with the provider,
// files are replaced atomically with the right modes, renewals and bundle changes are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile as readFileWithCallback, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { CertificateAuthority } from '../../security/ca.js';
import { workloadId } from '../../security/spiffe.js';
import { buildCsr, generateWorkloadKey } from '../../security/workload-identity.js';
import {
  AGENT_FILES,
  grpcBootstrap,
  syncIdentityFiles,
  writeFileAtomic,
  writeIdentityFiles,
} from './grpc-agent-files.js';
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
  assert.equal(
    v.certificateProviders['trellis']?.config.certificateFile,
    '/run/app/certs/cert-chain-and-key.pem',
  );
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

// ---- the key and the chain never mismatch for a reader of the bootstrap's files ----

/** `n` identities of one CA, each with its own key (as every renewal makes a new key). */
async function realMaterials(n: number): Promise<IdentityMaterial[]> {
  const ca = await CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  const id = workloadId('cluster.local', 'default', 'frontend');
  const out: IdentityMaterial[] = [];
  for (let i = 0; i < n; i++) {
    const key = generateWorkloadKey();
    const c = await ca.signWorkloadCsr(buildCsr(key, id), id);
    out.push({
      ...material(i),
      keyPem: key.keyPem,
      certChainPem: c.chainPem,
      trustBundlePem: c.trustBundlePem,
      serialNumber: c.serialNumber,
    } as IdentityMaterial);
  }
  return out;
}

/** The three paths of the bootstrap's file_watcher provider for an agent writing into `dir`. */
function providerFiles(dir: string): { cert: string; key: string; ca: string } {
  const b = grpcBootstrap({ ...opts, dir }) as {
    certificate_providers: Record<string, { config: Record<string, string> }>;
  };
  const c = b.certificate_providers['trellis']?.config ?? {};
  return {
    cert: c['certificate_file'] ?? '',
    key: c['private_key_file'] ?? '',
    ca: c['ca_certificate_file'] ?? '',
  };
}

const pairMatches = (cert: Buffer, key: Buffer): boolean =>
  new X509Certificate(cert).publicKey.equals(createPublicKey(createPrivateKey(key)));

test('the provider files: Node takes the one PEM as both key and cert, and presents the whole chain', async () => {
  const [m] = await realMaterials(1);
  assert.ok(m);
  const dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  try {
    await writeIdentityFiles(dir, m);
    const f = providerFiles(dir);
    assert.equal(f.cert, f.key, 'one file for the key and the chain');
    assert.equal((await stat(f.key)).mode & 0o777, 0o600);
    // The separate files stay, as before.
    assert.equal(await readFile(join(dir, AGENT_FILES.key), 'utf8'), m.keyPem);
    assert.equal((await stat(join(dir, AGENT_FILES.key))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(dir, AGENT_FILES.chain), 'utf8'), m.certChainPem);
    // What grpc-js does with the bytes (createSecureContext({ca, key, cert})), on both ends of a
    // real handshake: the client trusts the roots alone, so the server must send the intermediate.
    const pem = await readFile(f.cert);
    const ca = await readFile(f.ca);
    // grpc-js server credentials: setSecureContext({ca, cert: [pem], key: [pem]}).
    const server = createTlsServer(
      { ca, key: [pem], cert: [pem], requestCert: true, rejectUnauthorized: true },
      (s) => s.end('ok'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const peer = await new Promise<string>((resolve, reject) => {
        const s = tlsConnect(
          {
            host: '127.0.0.1',
            port,
            secureContext: createSecureContext({ ca, key: pem, cert: pem }),
            checkServerIdentity: () => undefined,
          },
          () => {
            const c = s.getPeerCertificate(true);
            resolve(String(c.issuerCertificate.subject.CN));
            s.end();
          },
        );
        s.on('error', reject);
      });
      assert.match(peer, /^Trellis Intermediate CA /);
    } finally {
      server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Runs `check` after every call the code under test makes to one of the mutating functions of
 * node:fs/promises, while that code waits for the call: the directory as it is between any two of
 * the writer's steps. (Replaces the builtin's exports, then puts them back.)
 */
async function betweenEveryStep<T>(check: () => void, run: () => Promise<T>): Promise<T> {
  const fsp = createRequire(import.meta.url)('node:fs/promises') as Record<string, unknown>;
  const names = [
    'open',
    'rename',
    'writeFile',
    'appendFile',
    'copyFile',
    'unlink',
    'rm',
    'symlink',
    'link',
    'chmod',
  ];
  const saved = new Map(names.map((n) => [n, fsp[n]]));
  for (const [n, f] of saved)
    fsp[n] = async (...a: unknown[]) => {
      const r: unknown = await (f as (...x: unknown[]) => Promise<unknown>)(...a);
      check();
      return r;
    };
  syncBuiltinESMExports();
  try {
    return await run();
  } finally {
    for (const [n, f] of saved) fsp[n] = f;
    syncBuiltinESMExports();
  }
}

test('rotations: at every step of every rewrite, the provider files hold a key and a chain that match', async () => {
  const ms = await realMaterials(3);
  const dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  try {
    await writeIdentityFiles(dir, ms[0]!);
    const f = providerFiles(dir);
    let steps = 0;
    const bad: string[] = [];
    const serials = new Map(
      ms.map((m) => [new X509Certificate(m.certChainPem).serialNumber, m.serialNumber]),
    );
    await betweenEveryStep(
      () => {
        // Synchronous: nothing of the writer runs meanwhile, so this is one instant of the directory.
        steps++;
        const cert = readFileSync(f.cert);
        const key = readFileSync(f.key);
        if (!pairMatches(cert, key))
          bad.push(
            `step ${steps}: the chain of #${serials.get(new X509Certificate(cert).serialNumber)} with another key`,
          );
      },
      async () => {
        for (let i = 1; i <= 30; i++) {
          await writeIdentityFiles(dir, ms[i % ms.length]!, 'renewed');
          if (i % 10 === 0) await writeIdentityFiles(dir, ms[i % ms.length]!, 'trust-bundle');
        }
      },
    );
    assert.ok(steps >= 60, `the writer's steps were seen (${steps})`);
    assert.deepEqual(bad, [], 'a reader between two steps would have paired these');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rotations under a reader that reads as grpc-js file_watcher does: always whole files; mismatches only from its own two opens', async (t) => {
  const ms = await realMaterials(4);
  const dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  try {
    await writeIdentityFiles(dir, ms[0]!);
    const f = providerFiles(dir);
    const readFileCb = promisify(readFileWithCallback); // what grpc-js uses: promisify(fs.readFile)
    let stop = false;
    let rotations = 0;
    const writer = (async () => {
      while (!stop) {
        rotations++;
        await writeIdentityFiles(dir, ms[rotations % ms.length]!, 'renewed');
      }
    })();
    // grpc-js reads the three files at once (Promise.allSettled of three fs.readFile) and hands
    // the pair to createSecureContext, which refuses a key that does not match. The provider names
    // one file twice, so a read can still pair two versions when a rename falls between its own
    // two opens of that file (the bytes then differ): counted and reported, not a writer's fault.
    let reads = 0;
    let mismatches = 0;
    const until = Date.now() + 1500;
    try {
      while (Date.now() < until || rotations < 100) {
        const [c, k, r] = await Promise.allSettled([readFileCb(f.cert), readFileCb(f.key), readFileCb(f.ca)]);
        assert.ok(
          c.status === 'fulfilled' && k.status === 'fulfilled' && r.status === 'fulfilled',
          'every file is there at every instant',
        );
        reads++;
        assert.match(r.value.toString(), /^-----BEGIN CERTIFICATE-----/);
        if (!pairMatches(c.value, k.value)) {
          mismatches++;
          assert.notDeepEqual(c.value, k.value, 'one read of the one file: always a matching pair');
        }
      }
    } finally {
      stop = true;
      await writer;
    }
    t.diagnostic(
      `${rotations} rotations, ${reads} grpc-js-style reads, ${mismatches} of them across a rename`,
    );
    assert.ok(rotations >= 100, `enough rotations (${rotations})`);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp-')),
      [],
      'no temp file left',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
