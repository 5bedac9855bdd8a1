// The CA's data directory: certificates, keys (mode 0600, refused when readable by others), the
// trust bundle and the bootstrap-token keys. Every write is atomic (temp file in the same
// directory, fsync, rename, fsync of the directory), so a crash leaves the old or the new file.
//
//   <dir>/trust-domain           the trust domain the CA was made for (a mismatch is an error)
//   <dir>/root.pem               the CA's root certificate
//   <dir>/root-key.pem           its key (absent when the user keeps the root key offline)
//   <dir>/intermediate.pem       the issuing certificate
//   <dir>/intermediate-key.pem   its key
//   <dir>/trust-bundle.pem       every trusted root (the root, plus others during a rotation)
//   <dir>/token-keys             bootstrap-token HMAC keys, base64, one a line, newest first

import { promises as fs, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TrellisError } from '../common/errors.js';
import { pemBlocks, toPem } from './der.js';
import { CertificateAuthority, type LoadOptions } from './ca.js';
import { TokenKeyring } from './token.js';
import { validateTrustDomain } from './spiffe.js';

export const FILES = {
  trustDomain: 'trust-domain',
  root: 'root.pem',
  rootKey: 'root-key.pem',
  intermediate: 'intermediate.pem',
  intermediateKey: 'intermediate-key.pem',
  bundle: 'trust-bundle.pem',
  tokenKeys: 'token-keys',
} as const;

const SECRET_FILES = new Set<string>([FILES.rootKey, FILES.intermediateKey, FILES.tokenKeys]);

export class CaStoreError extends TrellisError {
  constructor(path: string, message: string) {
    super('STORE_FAILURE', `${path}: ${message}`, { path });
    this.name = 'CaStoreError';
  }
}

/** Writes `data` to `path` atomically with `mode` (the file never exists with other permissions). */
export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = join(path, '..');
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // in case the umask narrowed or widened it
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function readOptional(dir: string, name: string): Promise<string | undefined> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaStoreError(path, `cannot be read: ${(e as Error).message}`);
  }
  if (SECRET_FILES.has(name)) {
    const st = await fs.stat(path);
    if (st.mode & 0o077)
      throw new CaStoreError(
        path,
        `holds a private key but is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
      );
  }
  return text;
}

export interface OpenResult {
  ca: CertificateAuthority;
  /** 'loaded' from the dir, 'imported' from user material, or 'generated'. */
  source: 'loaded' | 'imported' | 'generated';
}

/**
 * Opens the CA in `dir`: loads it when the dir holds one; else imports `userCa` (root and
 * optionally intermediate, PEM) and saves it; else generates a root and intermediate and saves them.
 */
export async function openCa(
  dir: string,
  opts: {
    trustDomain: string;
    userCa?: Omit<LoadOptions, 'trustDomain' | 'now'>;
    now?: number;
    rootTtlMs?: number;
    intermediateTtlMs?: number;
  },
): Promise<OpenResult> {
  const td = validateTrustDomain(opts.trustDomain);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const rootPem = await readOptional(dir, FILES.root);
  if (rootPem !== undefined) {
    const storedTd = (await readOptional(dir, FILES.trustDomain))?.trim();
    if (storedTd !== undefined && storedTd !== td)
      throw new CaStoreError(
        join(dir, FILES.trustDomain),
        `the CA here was made for trust domain "${storedTd}", but "${td}" is configured; use another data dir or the same trust domain`,
      );
    if (opts.userCa)
      throw new CaStoreError(
        dir,
        'already holds a CA; a supplied root/intermediate is only imported into an empty data dir',
      );
    const ca = await loadFromDir(dir, td, rootPem, opts.now);
    return { ca, source: 'loaded' };
  }
  const ca = opts.userCa
    ? await CertificateAuthority.load({ ...opts.userCa, trustDomain: td, now: opts.now })
    : await CertificateAuthority.generate({
        trustDomain: td,
        now: opts.now,
        rootTtlMs: opts.rootTtlMs,
        intermediateTtlMs: opts.intermediateTtlMs,
      });
  await saveCa(dir, ca);
  return { ca, source: opts.userCa ? 'imported' : 'generated' };
}

async function loadFromDir(
  dir: string,
  td: string,
  rootPem: string,
  now?: number,
): Promise<CertificateAuthority> {
  const need = async (name: string) => {
    const v = await readOptional(dir, name);
    if (v === undefined)
      throw new CaStoreError(join(dir, name), 'is missing (the CA data dir is incomplete)');
    return v;
  };
  const bundle = (await readOptional(dir, FILES.bundle)) ?? rootPem;
  const rootDer = pemBlocks(rootPem, 'CERTIFICATE')[0];
  const extra = pemBlocks(bundle, 'CERTIFICATE').filter((d) => !rootDer || !d.equals(rootDer));
  try {
    return await CertificateAuthority.load({
      trustDomain: td,
      rootCertPem: rootPem,
      rootKeyPem: await readOptional(dir, FILES.rootKey),
      intermediateCertPem: await need(FILES.intermediate),
      intermediateKeyPem: await need(FILES.intermediateKey),
      extraRootsPem: extra.map((d) => toPem('CERTIFICATE', d)).join(''),
      now,
    });
  } catch (e) {
    if (e instanceof CaStoreError) throw e;
    throw new CaStoreError(dir, (e as Error).message);
  }
}

/** Saves every part of `ca` (keys 0600, certificates 0644). */
export async function saveCa(dir: string, ca: CertificateAuthority): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = ca.exportKeys();
  await writeFileAtomic(join(dir, FILES.trustDomain), ca.trustDomain + '\n', 0o644);
  if (keys.rootKeyPem !== undefined) await writeFileAtomic(join(dir, FILES.rootKey), keys.rootKeyPem, 0o600);
  await writeFileAtomic(join(dir, FILES.intermediateKey), keys.intermediateKeyPem, 0o600);
  await writeFileAtomic(join(dir, FILES.root), ca.root.pem, 0o644);
  await writeFileAtomic(join(dir, FILES.intermediate), ca.intermediate.pem, 0o644);
  await writeFileAtomic(join(dir, FILES.bundle), ca.trustBundlePem(), 0o644);
}

/** The bootstrap-token keyring in `dir`, created (one new key) when absent. */
export async function openTokenKeyring(dir: string): Promise<TokenKeyring> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const text = await readOptional(dir, FILES.tokenKeys);
  if (text === undefined) {
    const ring = new TokenKeyring([TokenKeyring.generateSecret()]);
    await saveTokenKeyring(dir, ring);
    return ring;
  }
  const path = join(dir, FILES.tokenKeys);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  try {
    return new TokenKeyring(lines.map((l) => Buffer.from(l, 'base64')));
  } catch (e) {
    throw new CaStoreError(path, (e as Error).message);
  }
}

export async function saveTokenKeyring(dir: string, ring: TokenKeyring): Promise<void> {
  const body = ring.keys.map((k) => k.secret.toString('base64')).join('\n') + '\n';
  await writeFileAtomic(join(dir, FILES.tokenKeys), body, 0o600);
}
