// The `trellis` command: parses the subcommand and its flags, runs it, maps errors to exit codes.
import { TrellisError } from '../common/errors.js';

// Commands are loaded on demand, so `trellis proxy` (run next to every workload) does not carry the
// control plane's code in its memory, and short commands start fast.
const resources = () => import('./commands/resources.js');

/** The usage text (built on demand: the proxy flags' part comes from the sidecar's bootstrap module). */
const help = async (): Promise<string> => {
  const { bootstrapHelp } = await import('../proxy/main/bootstrap-fields.js');
  return `trellis: a service mesh

Usage: trellis <command> [flags]

Commands:
  control-plane [--data-dir DIR] [--watch DIR] [--api-port N] [--api-host ADDR]
                [--secure-port N] [--host ADDR] [--plaintext-xds-port [HOST:]N]
                [--trust-domain TD] [--workload-cert-ttl 24h]
                [--ca-cert FILE (--ca-key FILE | --intermediate-cert FILE --intermediate-key FILE)]
                [--admin-token-file FILE] [--insecure-registration]
                            run the control plane and its CA (in DIR/ca; trust domain cluster.local):
                            TLS port 15012 on --host for sidecars (xDS + their API calls), the
                            plaintext API (CLI) on 127.0.0.1:15000; plaintext xDS for proxyless
                            gRPC only with --plaintext-xds-port, on loopback (docs/security.md).
                            The API's admin token: FILE (created 0600 when missing; default
                            DIR/admin.token, or $TRELLIS_ADMIN_TOKEN_FILE / $TRELLIS_ADMIN_TOKEN)
                            Instance registration on the plaintext API needs the admin token or
                            the Service's bootstrap token; --insecure-registration accepts it
                            without (local plaintext experiments only)
  apply -f FILE|DIR|- [--dry-run]
                            validate and apply resources to the control plane
  get KIND [NAME] [-n NS] [-o yaml|json]
                            list resources (services, httproutes, grpcroutes, gateways, endpoints) or one
  delete KIND NAME... [-n NS] | delete -f FILE
                            delete resources
  validate -f FILE|DIR|- [-o json]
                            check resources offline (no control plane needed)
  proxy --service NAME [--app-port N] [--control-plane HOST:PORT] [--api URL] [flags below]
                            run a sidecar proxy for one workload (see 'Proxy flags')
  proxy --gateway NAME [--namespace NS] [--control-plane HOST:PORT] [--admin-port N]
                            run an ingress gateway for the Gateway resource NAME: its listeners
                            expose the routes attached to it (no app; see docs/gateway.md)
  proxy-status [-o json]    proxies connected to the control plane and their config state
  up [FILE|DIR] [--data-dir DIR] [--api-port N] [--secure-port N]
                            run a whole mesh on this machine: control plane, every Workload replica
                            with its sidecar, gateways (see docs/up.md; 'trellis up --help')
  logs WORKLOAD [-f] [--replica N] [--sidecar]
                            print (-f: follow) the logs of a Workload run by 'trellis up'
  scale WORKLOAD --replicas N [-n NS]
                            change a Workload's replicas; the running 'trellis up' follows
  token create --service NAME [-n NS] [--service-account SA] [--ttl 24h]
                            print a bootstrap token for a sidecar (trellis proxy --token-file)
  grpc-agent --service NAME [-n NS] --token-file FILE --out DIR [--xds HOST:PORT] [--once]
                            workload certificate + xDS bootstrap for a proxyless gRPC app (mesh
                            mTLS, gRFC A29; 'trellis grpc-agent --help', docs/security.md)
  certs [-o json]           workload identities, issuers, expiry and rotation state; warnings
  ca rotate [--root] [--overlap 24h]
                            new intermediate, or a new root trusted alongside the old one
  ca bundle [-o FILE]       print (or write atomically) the current trust bundle, for --ca-bundle
  version                   print the version

Flags for commands that talk to a control plane:
  --server URL              control plane HTTP API (default $TRELLIS_SERVER or http://127.0.0.1:15000)
  --admin-token-file FILE   the control plane's admin token (default: $TRELLIS_ADMIN_TOKEN, then
                            $TRELLIS_ADMIN_TOKEN_FILE, then for a local control plane the
                            admin.token of the running 'trellis up', or of $TRELLIS_DATA_DIR or
                            ./.trellis/data as 'trellis control-plane' uses)

Proxy flags (flags > TRELLIS_* environment > bootstrap file > defaults):
${bootstrapHelp()}
`;
};

const usage = (msg: string) => new TrellisError('BAD_REQUEST', `${msg}\nRun 'trellis help' for usage.`);

/** Takes `--admin-token-file FILE` (or `=FILE`) out of `args`: every API command accepts it. */
function takeAdminTokenFile(args: string[]): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--admin-token-file') {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('-')) throw usage('--admin-token-file needs a FILE');
      file = v;
      args.splice(i, 2);
      i--;
    } else if (a.startsWith('--admin-token-file=')) {
      file = a.slice('--admin-token-file='.length);
      args.splice(i, 1);
      i--;
    }
  }
  return file;
}

/** Commands that never call the admin API (they run things, or use a workload token). */
const NO_ADMIN_TOKEN = new Set(['proxy', 'up', 'grpc-agent', 'validate', 'version', 'help']);

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...restIn] = argv;
  const rest = [...restIn];
  // The sidecar first: `trellis proxy` loads its own command's modules only (not the CLI's API
  // client, admin-token lookup and `trellis up` data dir, nor node:crypto's ESM namespace).
  if (cmd === 'proxy') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(await help());
      return 0;
    }
    return (await import('./commands/proxy.js')).proxyCommand(rest);
  }
  const { setAdminTokenFile } = await import('./admin-token.js');
  const adminTokenFile = cmd && !NO_ADMIN_TOKEN.has(cmd) ? takeAdminTokenFile(rest) : undefined;
  if (cmd !== 'control-plane') setAdminTokenFile(adminTokenFile);
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(await help());
    return cmd ? 0 : 2;
  }
  if (cmd === 'up') return (await import('./commands/up.js')).upCommand(rest);
  if (cmd === 'logs') return (await import('./commands/logs.js')).logsCommand(rest);
  if (cmd === 'scale') return (await import('./commands/scale.js')).scaleCommand(rest);
  if (cmd === 'token') return (await import('./commands/token.js')).tokenCommand(rest);
  if (cmd === 'grpc-agent') return (await import('./commands/grpc-agent.js')).grpcAgentCommand(rest);
  if (cmd === 'certs') return (await import('./commands/certs.js')).certsCommand(rest);
  if (cmd === 'ca') return (await import('./commands/ca.js')).caCommand(rest);
  const { parseArgs } = process.getBuiltinModule('node:util');
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...rest],
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string', short: 'f', multiple: true },
        output: { type: 'string', short: 'o' },
        namespace: { type: 'string', short: 'n' },
        server: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'data-dir': { type: 'string' },
        watch: { type: 'string' },
        'api-port': { type: 'string' },
        'xds-port': { type: 'string' },
        'secure-port': { type: 'string' },
        'plaintext-xds-port': { type: 'string' },
        'api-host': { type: 'string' },
        host: { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
        'intermediate-cert': { type: 'string' },
        'intermediate-key': { type: 'string' },
        'workload-cert-ttl': { type: 'string' },
        'insecure-registration': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const pos = parsed.positionals;
  if (v['help']) {
    process.stdout.write(await help());
    return 0;
  }
  const output = v['output'] as string | undefined;
  if (output !== undefined && !['json', 'yaml', 'table'].includes(output))
    throw usage(`-o must be json, yaml or table, got '${output}'`);
  const files = (v['file'] as string[] | undefined) ?? [];
  const server = (await import('./client.js')).serverUrl(v['server'] as string | undefined);
  const ns = v['namespace'] as string | undefined;
  switch (cmd) {
    case 'control-plane':
      return (await import('./commands/control-plane.js')).controlPlaneCommand({
        dataDir: v['data-dir'] as string | undefined,
        watch: v['watch'] as string | undefined,
        apiPort: v['api-port'] as string | undefined,
        xdsPort: v['xds-port'] as string | undefined,
        securePort: v['secure-port'] as string | undefined,
        plaintextXdsPort: v['plaintext-xds-port'] as string | undefined,
        apiHost: v['api-host'] as string | undefined,
        host: v['host'] as string | undefined,
        trustDomain: v['trust-domain'] as string | undefined,
        caCert: v['ca-cert'] as string | undefined,
        caKey: v['ca-key'] as string | undefined,
        intermediateCert: v['intermediate-cert'] as string | undefined,
        intermediateKey: v['intermediate-key'] as string | undefined,
        workloadCertTtl: v['workload-cert-ttl'] as string | undefined,
        adminTokenFile,
        insecureRegistration: v['insecure-registration'] === true,
      });
    case 'apply':
      return (await resources()).applyCommand(files, server, v['dry-run'] === true);
    case 'validate':
      return (await resources()).validateCommand(files, output === 'json');
    case 'get':
      return (await resources()).getCommand(pos[0], pos[1], ns, output, server);
    case 'delete':
      return (await resources()).deleteCommand(pos[0], pos.slice(1), files, ns, server);
    case 'proxy-status':
      return (await import('./commands/proxy-status.js')).proxyStatusCommand(output, server);
    case 'version':
      process.stdout.write('trellis 0.1.0\n');
      return 0;
    default:
      throw usage(`unknown command '${cmd}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${msg}\n`);
    process.exitCode = e instanceof TrellisError && e.code === 'BAD_REQUEST' ? 2 : 1;
  },
);
