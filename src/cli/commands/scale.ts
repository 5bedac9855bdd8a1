// `trellis scale WORKLOAD --replicas N [-n NS]`: sets a Workload's replicas through the control
// plane API (an apply of the changed Workload); the `trellis up` supervising it starts or stops replicas.
import { TrellisError } from '../../common/errors.js';
import type { ConfigIssue } from '../../api/types.js';
import { ApiClient, serverUrl } from '../client.js';
import { parseFlags } from '../flags.js';
import { printIssues } from '../output.js';

export const SCALE_HELP = `Usage: trellis scale WORKLOAD --replicas N [-n NAMESPACE] [--server URL]
`;

export async function scaleCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      replicas: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    SCALE_HELP,
    true,
  );
  if (parsed.values.help) {
    process.stdout.write(SCALE_HELP);
    return 0;
  }
  const name = parsed.positionals[0];
  const raw = parsed.values.replicas;
  if (name === undefined || parsed.positionals.length > 1 || raw === undefined)
    throw new TrellisError('BAD_REQUEST', `scale needs one WORKLOAD and --replicas N\n${SCALE_HELP}`);
  const replicas = Number(raw);
  if (!/^\d+$/.test(raw) || replicas > 64)
    throw new TrellisError('BAD_REQUEST', `--replicas must be a whole number 0-64, got '${raw}'`);
  const ns = parsed.values.namespace ?? 'default';
  const client = new ApiClient(serverUrl(parsed.values.server));
  const doc = await client.call<{ spec: Record<string, unknown> }>(
    'GET',
    `/api/v1/resources/Workload/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`,
  );
  const before = doc.spec['replicas'];
  let out: { applied?: { action: string }[] };
  try {
    out = await client.call('POST', '/api/v1/apply', {
      documents: [{ ...doc, spec: { ...doc.spec, replicas } }],
    });
  } catch (e) {
    const issues = (e as TrellisError).details as { issues?: ConfigIssue[] } | undefined;
    if (!(e instanceof TrellisError) || !issues?.issues) throw e;
    printIssues(issues.issues);
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
  const action = out.applied?.[0]?.action ?? 'configured';
  process.stdout.write(
    action === 'unchanged'
      ? `workload/${name} (${ns}) already has ${replicas} replica(s)\n`
      : `workload/${name} (${ns}) scaled from ${String(before)} to ${replicas} replica(s)\n`,
  );
  return 0;
}
