// The sidecar's bootstrap: flags > TRELLIS_* env > bootstrap file (JSON or YAML) > defaults, parsed
// into one frozen, validated ProxyBootstrap. Every error names where the bad value came from. The
// flag table, defaults and per-value checks are in bootstrap-fields.ts (re-exported here).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TrellisError, errorMessage } from '../../common/errors.js';
import {
  BOOTSTRAP_FIELDS,
  DEFAULTS,
  convert,
  type ProxyBootstrap,
  type Raw,
  type UpstreamSpec,
} from './bootstrap-fields.js';
import { LIMIT_FLAGS, parseLimits } from './bootstrap-limits.js';

export {
  BOOTSTRAP_FIELDS,
  bootstrapHelp,
  type ProxyBootstrap,
  type UpstreamSpec,
} from './bootstrap-fields.js';

// yaml is loaded only for a YAML bootstrap file (~2 MB RSS a sidecar without one does not carry).
const parseYaml = (text: string): unknown =>
  (
    process.getBuiltinModule('node:module').createRequire(import.meta.url)('yaml') as typeof import('yaml')
  ).parse(text);

export interface BootstrapSources {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads the bootstrap file (injected for tests). */
  readonly readFile?: (path: string) => string;
  readonly hostname?: string;
  readonly pid?: number;
}

function readBootstrapFile(path: string, from: string, read: (p: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new TrellisError(
      'BAD_REQUEST',
      `${from}: cannot read bootstrap file '${path}': ${errorMessage(e)}`,
    );
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new TrellisError(
      'BAD_REQUEST',
      `bootstrap file '${path}' is not valid JSON or YAML: ${errorMessage(e)}`,
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new TrellisError('BAD_REQUEST', `bootstrap file '${path}' must hold an object of settings`);
  const known = new Set([...BOOTSTRAP_FIELDS.map((f) => f.key as string), 'limits']);
  for (const k of Object.keys(data))
    if (!known.has(k))
      throw new TrellisError(
        'BAD_REQUEST',
        `bootstrap file '${path}': unknown setting '${k}'; known settings are ${[...known].join(', ')}`,
      );
  return data as Record<string, unknown>;
}

/** Settings that belong to a sidecar's app: refused in gateway mode rather than silently ignored. */
const SIDECAR_ONLY = [
  'service',
  'appPort',
  'appAddress',
  'appReadyPath',
  'appProbePeriodMs',
  'appProbeTimeoutMs',
  'inboundPort',
  'outboundPort',
  'upstreams',
] as const;

/** Gateway mode: no app (appPort 0), no sidecar-only settings; the Service is ''. */
function gatewayMode(out: Record<string, unknown>, setFrom: ReadonlyMap<string, string>): void {
  for (const k of SIDECAR_ONLY) {
    const from = setFrom.get(k);
    if (from !== undefined)
      throw new TrellisError(
        'BAD_REQUEST',
        `trellis proxy: ${from} cannot be used with --gateway (a gateway has no app and no inbound/outbound listeners; its listeners come from the Gateway resource)`,
      );
  }
  out['service'] = '';
  out['appPort'] = 0;
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const hostOf = (hostport: string): string => hostport.replace(/:\d+$/, '');

/**
 * TLS or plaintext to the control plane: with a trust bundle, xDS (and by default the API, on the
 * same secure port) use TLS; without one, plaintext is allowed to a loopback control plane only.
 */
function controlPlaneTransport(out: Record<string, unknown>, setFrom: ReadonlyMap<string, string>): void {
  const tls = out['caBundle'] !== undefined;
  if (tls && !setFrom.has('controlPlane')) out['controlPlane'] = '127.0.0.1:15012';
  if (tls && !setFrom.has('api')) out['api'] = `https://${out['controlPlane'] as string}`;
  const cp = out['controlPlane'] as string;
  const api = new URL(out['api'] as string);
  if (!tls && !isLoopback(hostOf(cp)))
    throw new TrellisError(
      'BAD_REQUEST',
      `trellis proxy: ${setFrom.get('controlPlane') ?? '--control-plane'}: ${cp} is not on this machine, and without a trust bundle xDS would be plaintext; pass --ca-bundle FILE (the mesh CA's roots: 'trellis certs -o json' trustBundlePem, or GET /api/v1/trust-bundle?format=pem on the control plane's loopback API) and the control plane's TLS port (15012)`,
    );
  if (api.protocol === 'http:' && !isLoopback(api.hostname))
    throw new TrellisError(
      'BAD_REQUEST',
      `trellis proxy: ${setFrom.get('api') ?? '--api'}: ${api.origin} is plaintext HTTP to another machine (tokens and registrations would travel in the clear); use https:// with --ca-bundle (the control plane's TLS port, 15012, serves the sidecar API)`,
    );
  if (api.protocol === 'https:' && !tls)
    throw new TrellisError(
      'BAD_REQUEST',
      `trellis proxy: ${setFrom.get('api') ?? '--api'}: an https:// API needs --ca-bundle FILE to verify the control plane with`,
    );
}

/**
 * The control plane's TLS port serves xDS and registration only to workloads presenting a client
 * certificate, which the sidecar obtains with its bootstrap token: a trust bundle without a token
 * could never get config, so it is refused at start rather than retried forever.
 */
function needsTokenWithBundle(
  out: Record<string, unknown>,
  setFrom: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
): void {
  if (out['caBundle'] === undefined || out['tokenFile'] !== undefined) return;
  if ((env['TRELLIS_TOKEN'] ?? '').trim() !== '') return;
  throw new TrellisError(
    'BAD_REQUEST',
    `trellis proxy: ${setFrom.get('caBundle') ?? '--ca-bundle'} needs --token-file FILE (or TRELLIS_TOKEN_FILE, or TRELLIS_TOKEN): the control plane's TLS port serves xDS and registration only to workloads with a certificate, which the sidecar obtains with a bootstrap token ('trellis token create --service NAME [-n NS]'; for a gateway, --service-account gateway-NAME); 'trellis up' provisions tokens itself. Without a token, drop --ca-bundle and use a control plane on this machine with --plaintext-xds-port`,
  );
}

/** Parses `trellis proxy` flags (argv after the subcommand), env and the bootstrap file. */
export function parseBootstrap(src: BootstrapSources): ProxyBootstrap {
  const env = src.env ?? {};
  const options: Record<string, { type: 'string'; multiple?: boolean }> = { bootstrap: { type: 'string' } };
  for (const f of BOOTSTRAP_FIELDS) options[f.flag] = { type: 'string', multiple: f.kind === 'upstreams' };
  for (const l of LIMIT_FLAGS) options[l.flag] = { type: 'string' };
  let values: Record<string, string | string[] | undefined>;
  try {
    const parsed = process
      .getBuiltinModule('node:util')
      .parseArgs({ args: [...src.argv], options, strict: true, allowPositionals: false });
    values = parsed.values as Record<string, string | string[] | undefined>;
  } catch (e) {
    throw new TrellisError('BAD_REQUEST', `trellis proxy: ${errorMessage(e)}`);
  }
  const fileFrom = values['bootstrap'] !== undefined ? '--bootstrap' : 'TRELLIS_BOOTSTRAP';
  const filePath = (values['bootstrap'] as string | undefined) ?? (env['TRELLIS_BOOTSTRAP'] || undefined);
  const file =
    filePath === undefined
      ? {}
      : readBootstrapFile(filePath, fileFrom, src.readFile ?? ((p) => readFileSync(p, 'utf8')));

  const out: Record<string, unknown> = { ...DEFAULTS };
  const setFrom = new Map<string, string>();
  for (const f of BOOTSTRAP_FIELDS) {
    let raw: Raw | undefined;
    if (values[f.flag] !== undefined) raw = { value: values[f.flag], from: `--${f.flag}` };
    else if (env[f.env] !== undefined && env[f.env] !== '') raw = { value: env[f.env], from: f.env };
    else if (file[f.key] !== undefined && file[f.key] !== null)
      raw = { value: file[f.key], from: `${filePath}: ${f.key}` };
    if (raw !== undefined) {
      out[f.key] = convert(f, raw);
      setFrom.set(f.key, raw.from);
    }
  }
  controlPlaneTransport(out, setFrom);
  needsTokenWithBundle(out, setFrom, env);
  if (out['gateway'] !== undefined) gatewayMode(out, setFrom);
  else if (out['service'] === undefined)
    throw new TrellisError(
      'BAD_REQUEST',
      'trellis proxy: --service NAME is required (or TRELLIS_SERVICE, or service in the bootstrap file); for an ingress gateway, --gateway NAME instead',
    );
  if (out['nodeId'] === undefined) {
    const host =
      (src.hostname ?? hostname())
        .toLowerCase()
        .replace(/[^a-z0-9.-]/g, '-')
        .replace(/^[^a-z0-9]+/, '') || 'host';
    const who =
      out['gateway'] !== undefined ? `gateway-${out['gateway'] as string}` : (out['service'] as string);
    out['nodeId'] = `${who}-${host}-${src.pid ?? process.pid}`;
  }
  const taken = new Map<number, string>([
    [out['inboundPort'] as number, '--inbound-port'],
    [out['outboundPort'] as number, '--outbound-port'],
    [out['adminPort'] as number, '--admin-port'],
  ]);
  for (const u of out['upstreams'] as UpstreamSpec[])
    if (taken.has(u.localPort))
      throw new TrellisError(
        'BAD_REQUEST',
        `trellis proxy: --upstream ${u.service}:${u.port}=${u.localPort}: local port ${u.localPort} is also ${taken.get(u.localPort) ?? ''}`,
      );
  const ports = ['inboundPort', 'outboundPort'] as const;
  if (out[ports[0]] === out[ports[1]])
    throw new TrellisError(
      'BAD_REQUEST',
      `trellis proxy: --inbound-port and --outbound-port must differ (both ${String(out[ports[0]])})`,
    );
  out['limits'] = parseLimits(file['limits'], `${filePath ?? ''}: limits`, values, env);
  if (filePath !== undefined) out['bootstrapFile'] = filePath;
  return Object.freeze({
    ...out,
    labels: Object.freeze({ ...(out['labels'] as Record<string, string>) }),
    upstreams: Object.freeze((out['upstreams'] as UpstreamSpec[]).map((u) => Object.freeze(u))),
  }) as ProxyBootstrap;
}
