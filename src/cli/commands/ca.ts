// `trellis ca rotate [--root] [--overlap 24h]`: a new intermediate (same root: nothing to
// distribute), or a new root that joins the trust bundle now, issues after a short distribution
// period, and replaces the old root once the overlap has passed (see docs/security.md).
// `trellis ca bundle [-o FILE]`: the current trust bundle (PEM) from the control plane's API, to
// refresh the --ca-bundle files of sidecars started outside `trellis up` (after a root rotation).
import { resolve } from 'node:path';
import { errorMessage, TrellisError } from '../../common/errors.js';
import { pemBlocks } from '../../security/der.js';
import { writeFileAtomic } from '../../security/ca-store.js';
import { ApiClient, serverUrl } from '../client.js';
import { parseFlags } from '../flags.js';

export const CA_HELP = `Usage: trellis ca rotate [--root] [--overlap 24h] [--distribute D] [-o json] [--server URL]
       trellis ca bundle [-o FILE] [--server URL]

  trellis ca rotate               a new intermediate under the same root; workloads are told to
                                  renew soon and move to it (no overlap needed: same root)
  trellis ca rotate --root        a new root: trusted alongside the old one at once, issuing under
                                  it shortly after, the old root dropped after --overlap (default
                                  24h; at least the workload certificate lifetime)
  --distribute D                  with --root: how long the new root is only trusted, not yet
                                  issuing, so every sidecar holds it first (default: a short part
                                  of --overlap)
  trellis ca bundle               print the mesh CA's current trust bundle (PEM), as the control
                                  plane's API serves it (GET /api/v1/trust-bundle)
  trellis ca bundle -o FILE       write it to FILE instead (atomically, mode 0644): refresh the
                                  --ca-bundle file of sidecars after 'ca rotate --root'
`;

/** 127.0.0.0/8, ::1, localhost (a URL's hostname). */
const isLoopbackHost = (host: string): boolean =>
  /^(localhost|\[::1\]|::1|127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.test(host);

/** The trust bundle PEM of the control plane at `server`, checked to hold certificates. */
async function fetchBundle(
  server: string,
): Promise<{ pem: string; roots: number; etag: string; td: string }> {
  const client = new ApiClient(server);
  const b = await client.call<{ trustBundlePem?: unknown; etag?: unknown; trustDomain?: unknown }>(
    'GET',
    '/api/v1/trust-bundle',
  );
  const pem = typeof b?.trustBundlePem === 'string' ? b.trustBundlePem : '';
  const roots = pemBlocks(pem, 'CERTIFICATE').length;
  if (roots === 0)
    throw new TrellisError(
      'INTERNAL',
      `${server}/api/v1/trust-bundle answered without a PEM certificate in trustBundlePem: is this a Trellis control plane with its CA on?`,
    );
  return { pem, roots, etag: String(b.etag ?? ''), td: String(b.trustDomain ?? '') };
}

async function bundleCommand(
  positionals: readonly string[],
  v: { output?: string; server?: string },
): Promise<number> {
  if (positionals.length > 1)
    throw new TrellisError(
      'BAD_REQUEST',
      `ca bundle: unexpected argument '${positionals[1] ?? ''}'\n${CA_HELP}`,
    );
  const server = serverUrl(v.server);
  const b = await fetchBundle(server);
  // The roots are what every sidecar will trust: over plaintext from another machine, anyone on
  // the way could have swapped them.
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  if (url?.protocol === 'http:' && !isLoopbackHost(url.hostname))
    process.stderr.write(
      `WARN: the trust bundle came over plaintext HTTP from ${url.host}, not this machine: check its roots (openssl x509 -fingerprint -sha256) against 'trellis certs' on the control plane's machine before trusting it\n`,
    );
  if (v.output === undefined || v.output === '-') {
    process.stdout.write(b.pem);
    return 0;
  }
  const file = resolve(v.output);
  try {
    await writeFileAtomic(file, b.pem, 0o644);
  } catch (e) {
    throw new TrellisError(
      'BAD_REQUEST',
      `-o ${v.output}: cannot write the trust bundle: ${errorMessage(e)}`,
    );
  }
  process.stdout.write(
    `wrote the trust bundle (${b.roots} root${b.roots === 1 ? '' : 's'}, trust domain ${b.td}, etag ${b.etag}) to ${file}\n`,
  );
  return 0;
}

export async function caCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      root: { type: 'boolean' },
      overlap: { type: 'string' },
      distribute: { type: 'string' },
      output: { type: 'string', short: 'o' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    CA_HELP,
    true,
  );
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(CA_HELP);
    return 0;
  }
  if (parsed.positionals[0] === 'bundle') {
    for (const [flag, set] of [
      ['--root', v.root],
      ['--overlap', v.overlap],
      ['--distribute', v.distribute],
    ] as const)
      if (set !== undefined)
        throw new TrellisError('BAD_REQUEST', `ca bundle: ${flag} applies to 'ca rotate' only\n${CA_HELP}`);
    return bundleCommand(parsed.positionals, v);
  }
  if (parsed.positionals[0] !== 'rotate' || parsed.positionals.length > 1)
    throw new TrellisError('BAD_REQUEST', `ca: the subcommands are 'rotate' and 'bundle'\n${CA_HELP}`);
  if (v.overlap !== undefined && !v.root)
    throw new TrellisError(
      'BAD_REQUEST',
      '--overlap applies to --root only (a new intermediate chains to the same root)',
    );
  const client = new ApiClient(serverUrl(v.server));
  const out = await client.call<Record<string, unknown>>('POST', '/api/v1/ca/rotate', {
    root: v.root === true,
    ...(v.overlap !== undefined ? { overlap: v.overlap } : {}),
    ...(v.distribute !== undefined ? { distribute: v.distribute } : {}),
  });
  if (v.output === 'json') {
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  if (out['rotated'] === 'root') {
    const r = out['rotation'] as { switchAt: string; dropAt: string };
    process.stdout.write(
      `root rotation started: the new root is in the trust bundle now; issuing moves to it at ${r.switchAt}; the old root is dropped at ${r.dropAt}\n`,
    );
  } else
    process.stdout.write(
      `new intermediate ${String(out['intermediate'])} (until ${String(out['notAfter'])}); workloads renew onto it shortly\n`,
    );
  return 0;
}
