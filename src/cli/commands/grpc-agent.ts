// `trellis grpc-agent`: the workload identity of a proxyless gRPC application (gRFC A29). With the
// workload's bootstrap token it gets a certificate from the control plane's CA exactly as a sidecar
// does (P-256 key made in memory, CSR, renewal at about half the lifetime, trust bundle long poll:
// src/proxy/identity/sidecar-identity.ts), writes key, chain and trust bundle into --out for a
// grpc-js `file_watcher` certificate provider, and a gRPC xDS bootstrap naming the control plane's
// plaintext xDS listener. Runs until SIGTERM/SIGINT, or writes once and exits with --once. With
// --serve IP:PORT the app is a proxyless gRPC server (XdsServer, gRFC A36): the bootstrap names the
// server Listener template, and the agent registers IP:PORT as an mTLS instance of the Service
// while it accepts connections (grpc-agent-serve.ts).
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDurationMs } from '../../api/duration.js';
import { errorMessage, TrellisError } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { isLoopback } from '../../proxy/main/bootstrap.js';
import { ControlPlaneTls } from '../../proxy/identity/control-plane-tls.js';
import { AGENT_FILES, syncIdentityFiles } from '../../proxy/identity/grpc-agent-files.js';
import { SidecarIdentity } from '../../proxy/identity/sidecar-identity.js';
import { peekToken, tokenSourceFrom } from '../../proxy/identity/token-source.js';
import { parseFlags } from '../flags.js';
import { startServeRegistration, type ServeTarget } from './grpc-agent-serve.js';

export const GRPC_AGENT_HELP = `Usage: trellis grpc-agent --service NAME [-n NAMESPACE] --token-file FILE --out DIR
                          [--xds HOST:PORT] [--api URL] [--ca-bundle FILE] [--node-id ID]
                          [--refresh-interval 10s] [--once [--timeout 30s]]
                          [--serve IP:PORT [--labels k=v,k=v] [--ttl-seconds 15]]

Gives a proxyless gRPC application (@grpc/grpc-js-xds, grpc-go, grpc-java...) a workload identity
for mesh mTLS (gRFC A29), as a sidecar has one. With the bootstrap token of the workload
('trellis token create --service NAME [-n NS]', in a file readable only by you) it gets a
certificate from the control plane's CA and keeps in DIR:
  cert-chain-and-key.pem (0600)                   the chain and its key in one file (what the
                                                  bootstrap names: one rename swaps the pair)
  key.pem (0600), cert-chain.pem, root-cert.pem   the same key and chain as two files, the roots;
                                                  all renewed at about half the lifetime and when
                                                  the trust bundle changes (atomic replace)
  bootstrap.json                                  the gRPC xDS bootstrap: the plaintext xDS
                                                  listener (--xds) and a file_watcher
                                                  certificate provider named "trellis"
Then run the app with GRPC_XDS_BOOTSTRAP=DIR/bootstrap.json and dial xds:///SERVICE with
XdsChannelCredentials (insecure fallback): clusters of Services whose sidecars speak mTLS use TLS
with this identity and check the server's SPIFFE ID; other Services stay plaintext.

A proxyless gRPC server (XdsServer with XdsServerCredentials) uses the same bootstrap: the
control plane sends it a server Listener for the address it binds (TLS with this identity and the
client certificate required while the Service is STRICT; plaintext in PERMISSIVE and DISABLE),
with the Service's AuthorizationPolicies as RBAC (run the server with
GRPC_XDS_EXPERIMENTAL_RBAC=true, else it refuses such a Listener and does not serve). With
--serve IP:PORT the agent registers that address as an mTLS instance of the Service while it
accepts connections, so sidecars and proxyless clients reach it with mTLS.

Flags:
  --service NAME            the app's Service (node metadata SERVICE; the token names the identity)
  -n, --namespace NS        its namespace (default: the token's, else default)
  --token-file FILE         the bootstrap token (or TRELLIS_TOKEN_FILE, or TRELLIS_TOKEN); re-read
                            at every renewal, so it may be refreshed in place
  --out DIR                 where the files go (made 0700 if new)
  --xds HOST:PORT           the control plane's plaintext xDS listener for the app
                            (--plaintext-xds-port; loopback only; default 127.0.0.1:15010)
  --api URL                 the control plane API for certificates (default http://127.0.0.1:15000,
                            or https://127.0.0.1:15012 with --ca-bundle)
  --ca-bundle FILE          the mesh CA's roots: talk TLS to the control plane's secure port
  --node-id ID              the xDS node id in the bootstrap (default SERVICE.NS-grpc-HOSTNAME)
  --refresh-interval D      how often the app re-reads the files (default 10s; at least 100ms):
                            how long it may take to see a renewal or a new root
  --once                    write the files and the bootstrap, then exit (no renewal!)
  --timeout D               with --once: give up after D without a certificate (default 30s)
  --serve IP:PORT           the app is a proxyless gRPC server reached at IP:PORT: register it
                            (proxyless, mtls) while the port accepts connections; deregister on
                            stop (not with --once)
  --labels k=v,k=v          the registered instance's labels with --serve (Service subsets)
  --ttl-seconds N           registration TTL with --serve (default 15; heartbeats every N/3)
`;

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const bad = (msg: string): TrellisError => new TrellisError('BAD_REQUEST', `grpc-agent: ${msg}`);

function duration(flag: string, text: string | undefined, dflt: number, minMs: number): number {
  if (text === undefined) return dflt;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < minMs)
    throw bad(`--${flag}: '${text}' is not a duration of at least ${minMs} ms (e.g. "10s", "500ms", "1m")`);
  return ms;
}

export interface GrpcAgentOptions {
  readonly service: string;
  readonly namespace: string | undefined;
  readonly tokenFile: string | undefined;
  readonly out: string;
  readonly xds: string;
  readonly api: string;
  readonly caBundle: string | undefined;
  readonly nodeId: string | undefined;
  readonly refreshMs: number;
  readonly once: boolean;
  readonly timeoutMs: number;
  readonly serve: ServeTarget | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly ttlSeconds: number;
}

/** Flags -> options, with a clear error for each bad one. */
export function parseGrpcAgentArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): GrpcAgentOptions | 'help' {
  const parsed = parseFlags(
    argv,
    {
      service: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'token-file': { type: 'string' },
      out: { type: 'string' },
      xds: { type: 'string' },
      api: { type: 'string' },
      'ca-bundle': { type: 'string' },
      'node-id': { type: 'string' },
      'refresh-interval': { type: 'string' },
      once: { type: 'boolean' },
      timeout: { type: 'string' },
      serve: { type: 'string' },
      'ttl-seconds': { type: 'string' },
      labels: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    GRPC_AGENT_HELP,
    false,
    'grpc-agent: ',
  );
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.service === undefined) throw bad(`--service NAME is required\n${GRPC_AGENT_HELP}`);
  if (!LABEL.test(v.service))
    throw bad(
      `--service: '${v.service}' is not a Service name (lowercase letters, digits and '-', at most 63)`,
    );
  if (v.namespace !== undefined && !LABEL.test(v.namespace))
    throw bad(`--namespace: '${v.namespace}' is not a namespace name (lowercase letters, digits and '-')`);
  if (v.out === undefined || v.out === '')
    throw bad(`--out DIR is required (where the certificate files and bootstrap.json go)`);
  const xds = v.xds ?? '127.0.0.1:15010';
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(xds);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw bad(`--xds: '${xds}' is not HOST:PORT (e.g. 127.0.0.1:15010)`);
  if (!isLoopback(m[1] ?? ''))
    throw bad(
      `--xds: ${m[1] ?? ''} is not a loopback address: gRPC clients reach the control plane's xDS in plaintext only, so the control plane serves them on loopback only (--plaintext-xds-port); run the agent and the app on the control plane's machine, or use a sidecar`,
    );
  const caBundle = v['ca-bundle'];
  const api = v.api ?? (caBundle !== undefined ? 'https://127.0.0.1:15012' : 'http://127.0.0.1:15000');
  let u: URL;
  try {
    u = new URL(api);
  } catch {
    throw bad(`--api: '${api}' is not a URL (e.g. http://127.0.0.1:15000)`);
  }
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    throw bad(
      `--api: ${u.origin} is plaintext HTTP to another machine (the token would travel in the clear); use https://HOST:15012 with --ca-bundle FILE`,
    );
  if (u.protocol === 'https:' && caBundle === undefined)
    throw bad(
      `--api: an https:// API needs --ca-bundle FILE (the mesh CA's roots) to verify the control plane`,
    );
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw bad(`--api: '${api}' must be http:// or https://`);
  const tokenFile = v['token-file'] ?? env['TRELLIS_TOKEN_FILE'];
  if (tokenFile === undefined && (env['TRELLIS_TOKEN'] ?? '').trim() === '')
    throw bad(
      `--token-file FILE is required (or TRELLIS_TOKEN_FILE / TRELLIS_TOKEN): the workload's bootstrap token, from 'trellis token create --service ${v.service}${v.namespace ? ` -n ${v.namespace}` : ''}'`,
    );
  let serve: ServeTarget | undefined;
  if (v.serve !== undefined) {
    const sm = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v.serve);
    const host = sm?.[1] ?? sm?.[2] ?? '';
    const port = Number(sm?.[3]);
    if (
      sm === null ||
      isIP(host) === 0 ||
      (sm[1] !== undefined) !== (isIP(host) === 6) ||
      port < 1 ||
      port > 65535
    )
      throw bad(
        `--serve: '${v.serve}' is not IP:PORT (e.g. 127.0.0.1:50051 or [::1]:50051): the address clients reach the gRPC server at`,
      );
    if (host === '0.0.0.0' || host === '::')
      throw bad(
        `--serve: ${host} is not an address clients can reach; give the instance's own IP (the server may still bind ${host})`,
      );
    if (v.once === true)
      throw bad('--serve registers the server while it runs: it cannot be used with --once');
    serve = { host, port };
  }
  const labels: Record<string, string> = {};
  for (const pair of (v.labels ?? '').split(',').filter((p) => p.trim() !== '')) {
    const i = pair.indexOf('=');
    const k = pair.slice(0, i).trim();
    const val = pair.slice(i + 1).trim();
    if (i <= 0 || !LABEL_KEY.test(k) || !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$|^$/.test(val))
      throw bad(
        `--labels: '${pair}' is not k=v (keys like app or example.com/tier, values letters, digits, -_.)`,
      );
    if (k in labels) throw bad(`--labels: '${k}' is given twice`);
    labels[k] = val;
  }
  if (v.labels !== undefined && v.serve === undefined)
    throw bad("--labels are the registered instance's: they need --serve IP:PORT");
  const ttlText = v['ttl-seconds'];
  const ttlSeconds = ttlText === undefined ? 15 : Number(ttlText);
  if (!/^\d{1,5}$/.test(ttlText ?? '15') || ttlSeconds < 3 || ttlSeconds > 3600)
    throw bad(`--ttl-seconds: '${ttlText ?? ''}' is not a whole number of seconds from 3 to 3600`);
  return {
    serve,
    labels,
    ttlSeconds,
    service: v.service,
    namespace: v.namespace,
    tokenFile,
    out: v.out,
    xds,
    api: api.replace(/\/+$/, ''),
    caBundle,
    nodeId: v['node-id'],
    refreshMs: duration('refresh-interval', v['refresh-interval'], 10_000, 100),
    once: v.once === true,
    timeoutMs: duration('timeout', v.timeout, 30_000, 1),
  };
}

/** Errors that retrying will not fix (a refused token or CSR): --once gives up at once. */
const FATAL = /HTTP 40[0-3]|not a Trellis token|token file/;

export async function grpcAgentCommand(argv: readonly string[]): Promise<number> {
  const o = parseGrpcAgentArgs(argv, process.env);
  if (o === 'help') {
    process.stdout.write(GRPC_AGENT_HELP);
    return 0;
  }
  const logger = createLogger({ name: 'trellis-grpc-agent' });
  const token = tokenSourceFrom(o.tokenFile, process.env, (mode) =>
    logger.warn(
      { tokenFile: o.tokenFile, mode: mode.toString(8) },
      `the token file can be read by group or others; run: chmod 600 ${o.tokenFile ?? ''}`,
    ),
  );
  if (token === undefined)
    throw bad('no bootstrap token (--token-file, TRELLIS_TOKEN_FILE or TRELLIS_TOKEN)');
  // The token names the identity; the namespace follows it unless -n says otherwise (then they must agree).
  let peek;
  try {
    peek = peekToken(await token.read());
  } catch (e) {
    throw bad(errorMessage(e));
  }
  if (peek === undefined)
    throw bad(`the token from ${token.description} is not a Trellis bootstrap token (tbt1.<payload>.<mac>)`);
  const namespace = o.namespace ?? peek.identity.namespace;
  if (namespace !== peek.identity.namespace)
    throw bad(
      `the token is for ${peek.identity.uri} (namespace ${peek.identity.namespace}), not namespace ${namespace}: create one with 'trellis token create --service ${o.service} -n ${namespace}'`,
    );
  const nodeId = o.nodeId ?? `${o.service}.${namespace}-grpc-${hostname()}`;
  const cpTls = o.caBundle !== undefined ? ControlPlaneTls.fromFile(o.caBundle, logger) : undefined;
  const identity = new SidecarIdentity({
    api: o.api,
    nodeId,
    token,
    logger,
    ...(cpTls ? { fetch: cpTls.fetch } : {}),
  });
  if (cpTls) cpTls.useIdentity(identity);
  const dir = resolve(o.out);
  const files: { stop?: () => void } = {};
  let serving: { stop(timeoutMs: number): Promise<void> } | undefined;
  let exiting = false;
  const stop = (code: number): void => {
    if (exiting) return;
    exiting = true;
    files.stop?.();
    // Deregister first (bounded), while the identity still authenticates the call.
    void (serving?.stop(2000) ?? Promise.resolve()).finally(() => {
      identity.close();
      logger.info({ code }, 'grpc-agent stopped; the files stay in place for the running app');
      setImmediate(() => process.exit(code));
    });
  };
  if (!o.once) {
    process.on('SIGTERM', () => stop(0));
    process.on('SIGINT', () => stop(0));
  }
  identity.start();
  const synced = syncIdentityFiles(
    identity,
    { dir, xds: o.xds, nodeId, namespace, service: o.service, refreshMs: o.refreshMs },
    logger,
  );
  if (o.once) {
    // Give up on a refused token at once, on an unreachable control plane after --timeout.
    const failed = new Promise<never>((_, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        const s = identity.status();
        if (s.lastError !== undefined && (FATAL.test(s.lastError) || Date.now() - t0 > o.timeoutMs)) {
          clearInterval(poll);
          reject(new TrellisError('UNAVAILABLE', `grpc-agent: no workload certificate: ${s.lastError}`));
        } else if (Date.now() - t0 > o.timeoutMs) {
          clearInterval(poll);
          reject(
            new TrellisError(
              'UNAVAILABLE',
              `grpc-agent: no workload certificate after ${o.timeoutMs} ms (is the control plane at ${o.api}?)`,
            ),
          );
        }
      }, 100); // ref'd: the identity's own timers are not, and would let the process end early
      void synced.then(
        () => clearInterval(poll),
        () => clearInterval(poll),
      );
    });
    try {
      await Promise.race([synced, failed]);
    } finally {
      identity.close();
    }
    printUsage(dir, identity.current()?.spiffeId, o.service, namespace, true);
    return 0;
  }
  // Runs until a signal: the identity's timers (renewal, retries, bundle watch) are unref'd, so hold
  // the loop, also while the control plane is away before the first certificate.
  const hold = setInterval(() => undefined, 1 << 30);
  const sync = await synced.catch((e: unknown) => {
    logger.error({ err: errorMessage(e) }, 'cannot write the files');
    stop(1);
    return undefined;
  });
  if (sync === undefined) {
    clearInterval(hold);
    return 1;
  }
  files.stop = sync.stop;
  if (o.serve !== undefined && !exiting)
    serving = startServeRegistration({
      api: o.api,
      ...(cpTls ? { fetch: cpTls.fetch } : {}),
      token,
      logger,
      id: nodeId,
      service: o.service,
      namespace,
      target: o.serve,
      labels: o.labels,
      ttlSeconds: o.ttlSeconds,
    });
  printUsage(dir, identity.current()?.spiffeId, o.service, namespace, false, o.serve);
  await new Promise<never>(() => undefined); // stop() exits the process
  return 0;
}

function printUsage(
  dir: string,
  spiffeId: string | undefined,
  service: string,
  ns: string,
  once: boolean,
  serve?: ServeTarget,
): void {
  process.stderr.write(
    `trellis grpc-agent: ${spiffeId ?? '?'} in ${dir}${once ? ' (--once: NOT renewed; rerun before it expires)' : ' (renewed until stopped)'}
Run the gRPC app with:
  GRPC_XDS_BOOTSTRAP=${join(dir, AGENT_FILES.bootstrap)}
and give its channels XdsChannelCredentials, e.g. in Node (@grpc/grpc-js-xds):
  new Client('xds:///SERVICE', new xds.XdsChannelCredentials(grpc.credentials.createInsecure()))
Clusters of Services served by sidecars with mTLS then use TLS with this identity (node ${service}.${ns}).
A gRPC server: new xds.XdsServer() with new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()),
bound to IP:PORT (GRPC_XDS_EXPERIMENTAL_RBAC=true if AuthorizationPolicies target ${service}).
${serve !== undefined ? `Registering ${serve.host.includes(':') ? `[${serve.host}]` : serve.host}:${serve.port} as a proxyless mTLS instance of ${service}.${ns} once it accepts connections.\n` : ''}`,
  );
}
