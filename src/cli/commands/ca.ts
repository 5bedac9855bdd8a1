// `trellis ca rotate [--root] [--overlap 24h]`: a new intermediate (same root: nothing to
// distribute), or a new root that joins the trust bundle now, issues after a short distribution
// period, and replaces the old root once the overlap has passed (see docs/security.md).
import { parseArgs } from 'node:util';
import { TrellisError } from '../../common/errors.js';
import { ApiClient, serverUrl } from '../client.js';

export const CA_HELP = `Usage: trellis ca rotate [--root] [--overlap 24h] [--distribute D] [-o json] [--server URL]

  trellis ca rotate               a new intermediate under the same root; workloads are told to
                                  renew soon and move to it (no overlap needed: same root)
  trellis ca rotate --root        a new root: trusted alongside the old one at once, issuing under
                                  it shortly after, the old root dropped after --overlap (default
                                  24h; at least the workload certificate lifetime)
  --distribute D                  with --root: how long the new root is only trusted, not yet
                                  issuing, so every sidecar holds it first (default: a short part
                                  of --overlap)
`;

export async function caCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        root: { type: 'boolean' },
        overlap: { type: 'string' },
        distribute: { type: 'string' },
        output: { type: 'string', short: 'o' },
        server: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new TrellisError('BAD_REQUEST', `${(e as Error).message}\n${CA_HELP}`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(CA_HELP);
    return 0;
  }
  if (parsed.positionals[0] !== 'rotate' || parsed.positionals.length > 1)
    throw new TrellisError('BAD_REQUEST', `ca: the only subcommand is 'rotate'\n${CA_HELP}`);
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
