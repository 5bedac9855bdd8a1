// `trellis token create --service NAME [-n NS] [--service-account SA] [--ttl 24h]`: asks the control
// plane (an admin call: admin token, loopback only) for a bootstrap token bound to
// spiffe://<td>/ns/NS/sa/SA and prints it alone on stdout, so `> token-file` captures just the
// token; what it is goes to stderr.
import { TrellisError } from '../../common/errors.js';
import { ApiClient, serverUrl } from '../client.js';
import { parseFlags } from '../flags.js';

export const TOKEN_HELP = `Usage: trellis token create --service NAME [-n NAMESPACE] [--service-account SA] [--ttl 24h]
                            [-o json] [--server URL] [--admin-token-file FILE]

Prints a bootstrap token for the workload identity spiffe://<trust-domain>/ns/NAMESPACE/sa/SA
(SA defaults to the Service's name). Give it to the sidecar in a file readable only by it:
  umask 077; trellis token create --service reviews > reviews.token
  trellis proxy --service reviews --token-file reviews.token ...
The token is a secret: do not put it on a command line. --ttl is how long it may be used to get
certificates (default 24h): the sidecar renews with it too, so it must outlive the sidecar or be
refreshed in the file.
Minting tokens is an admin call: the control plane's admin token comes from --admin-token-file,
TRELLIS_ADMIN_TOKEN, or (control plane on this machine) the admin.token of the running
'trellis up' or of ./.trellis/data (docs/security.md, "Admin API access").
`;

interface TokenAnswer {
  token: string;
  tokenId: string;
  spiffeId: string;
  expiresAt: string;
}

export async function tokenCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      service: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'service-account': { type: 'string' },
      ttl: { type: 'string' },
      output: { type: 'string', short: 'o' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    TOKEN_HELP,
    true,
  );
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  const [sub, ...extra] = parsed.positionals;
  if (sub !== 'create' || extra.length > 0)
    throw new TrellisError('BAD_REQUEST', `token: the only subcommand is 'create'\n${TOKEN_HELP}`);
  const sa = v['service-account'] ?? v.service;
  if (sa === undefined)
    throw new TrellisError(
      'BAD_REQUEST',
      `token create needs --service NAME (or --service-account SA)\n${TOKEN_HELP}`,
    );
  if (v.output !== undefined && v.output !== 'json')
    throw new TrellisError('BAD_REQUEST', `-o must be json, got '${v.output}'`);
  const client = new ApiClient(serverUrl(v.server));
  const out = await client.call<TokenAnswer>('POST', '/api/v1/tokens', {
    namespace: v.namespace ?? 'default',
    serviceAccount: sa,
    ...(v.ttl !== undefined ? { ttl: v.ttl } : {}),
  });
  if (v.output === 'json') {
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(out.token + '\n');
  process.stderr.write(`token ${out.tokenId} for ${out.spiffeId}, valid until ${out.expiresAt}\n`);
  return 0;
}
