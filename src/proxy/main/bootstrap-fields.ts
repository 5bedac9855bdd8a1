// The sidecar bootstrap's settings: the ProxyBootstrap shape, the flag table (flag, env var, file
// key, kind, help), the defaults, and the check and conversion of one raw value by its kind; also
// the flags section of `trellis help`. bootstrap.ts reads the sources (flags > TRELLIS_* env >
// bootstrap file > defaults), applies these, and checks the settings together.
import { isIP } from 'node:net';
import { TrellisError } from '../../common/errors.js';
import { limitsHelp, type ProxyLimits } from './bootstrap-limits.js';

export interface ProxyBootstrap {
  /** The Service this workload belongs to; '' in gateway mode. */
  readonly service: string;
  /**
   * Gateway mode (`--gateway NAME`): an ingress gateway serving the Gateway resource NAME in
   * `namespace`: no app, no inbound/outbound listener, no registration; listeners come from LDS.
   */
  readonly gateway?: string;
  readonly namespace: string;
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** xDS `host:port`. */
  readonly controlPlane: string;
  /** Control plane HTTP API base URL (registration), without a trailing slash. */
  readonly api: string;
  /** The local app's port; 0 = no app (a client-only sidecar: no app check, no registration). */
  readonly appPort: number;
  readonly appAddress: string;
  readonly inboundPort: number;
  readonly outboundPort: number;
  /** 0 = any free port. */
  readonly adminPort: number;
  readonly adminAddress: string;
  /** Where other sidecars reach this one; registered as the instance address. */
  readonly instanceIp: string;
  /** HTTP path answering 2xx/3xx when the app is ready; absent = a TCP connect is enough. */
  readonly appReadyPath?: string;
  /** How often the app is checked once it is ready (while starting: every 250 ms). */
  readonly appProbePeriodMs: number;
  /** How long one app check may take before it counts as a failure. */
  readonly appProbeTimeoutMs: number;
  readonly drainSeconds: number;
  /** Registration lease; heartbeats every third of it. */
  readonly ttlSeconds: number;
  /** Per-upstream local ports (`--upstream NAME[.NS]:PORT=LOCALPORT`, repeatable). */
  readonly upstreams: readonly UpstreamSpec[];
  /** Listener limits (file `limits` section, limit flags); empty = all defaults. */
  readonly limits: ProxyLimits;
  /** The bootstrap file read, if any. */
  readonly bootstrapFile?: string;
  /** File holding the bootstrap token for the workload certificate (never the token itself). */
  readonly tokenFile?: string;
  /**
   * The CA trust bundle (PEM roots) to verify the control plane with: xDS and the API calls then
   * go over TLS. Without it, plaintext, and only to a control plane on loopback.
   */
  readonly caBundle?: string;
}

/** A local port on 127.0.0.1 forwarding to one Service port (its namespace defaults to the proxy's). */
export interface UpstreamSpec {
  readonly service: string;
  readonly namespace?: string;
  readonly port: number;
  readonly localPort: number;
}

export type Kind =
  | 'name'
  | 'id'
  | 'labels'
  | 'hostport'
  | 'url'
  | 'port'
  | 'appPort'
  | 'ip'
  | 'host'
  | 'path'
  | 'seconds'
  | 'ms'
  | 'ttl'
  | 'file'
  | 'upstreams';

export interface Field {
  readonly key: Exclude<keyof ProxyBootstrap, 'bootstrapFile' | 'limits'>;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly help: string;
}

const F = (key: Field['key'], flag: string, kind: Kind, help: string): Field => ({
  key,
  flag,
  env: `TRELLIS_${flag.toUpperCase().replace(/-/g, '_')}`,
  kind,
  help,
});

/** Every setting: its key (also the bootstrap file's key), flag, env var, type and help. */
export const BOOTSTRAP_FIELDS: readonly Field[] = [
  F('service', 'service', 'name', 'the Service this workload belongs to (required, unless --gateway)'),
  F('namespace', 'namespace', 'name', "the Service's (or Gateway's) namespace (default default)"),
  F('gateway', 'gateway', 'name', 'gateway mode: serve the Gateway resource NAME (no app, no --service)'),
  F('nodeId', 'node-id', 'id', 'xDS node id and instance id (default <service>-<hostname>-<pid>)'),
  F('labels', 'labels', 'labels', 'instance labels, k=v,k=v'),
  F(
    'controlPlane',
    'control-plane',
    'hostport',
    'control plane xDS address (default 127.0.0.1:15012 with --ca-bundle, else 127.0.0.1:15010)',
  ),
  F(
    'api',
    'api',
    'url',
    'control plane API for registration and certificates (default https://<control-plane> with --ca-bundle, else http://127.0.0.1:15000)',
  ),
  F(
    'caBundle',
    'ca-bundle',
    'file',
    "the mesh CA's trust bundle (PEM): TLS to the control plane, with --token-file (without it: plaintext, loopback only)",
  ),
  F('appPort', 'app-port', 'appPort', 'the local app port; 0 = no app (default 8080)'),
  F('appAddress', 'app-address', 'host', 'the local app address (default 127.0.0.1)'),
  F('inboundPort', 'inbound-port', 'port', 'inbound listener port (default 15006)'),
  F('outboundPort', 'outbound-port', 'port', 'outbound listener port (default 15001)'),
  F('adminPort', 'admin-port', 'appPort', 'admin HTTP port; 0 = any free port (default 15020)'),
  F('adminAddress', 'admin-address', 'host', 'admin HTTP address (default 127.0.0.1)'),
  F('instanceIp', 'instance-ip', 'ip', 'IP other sidecars reach this one at (default 127.0.0.1)'),
  F('appReadyPath', 'app-ready-path', 'path', 'HTTP readiness path on the app (default: TCP connect)'),
  F(
    'appProbePeriodMs',
    'app-probe-period-ms',
    'ms',
    'app readiness check period once ready, ms (default 1000)',
  ),
  F('appProbeTimeoutMs', 'app-probe-timeout-ms', 'ms', 'app readiness check timeout, ms (default 1000)'),
  F('drainSeconds', 'drain-seconds', 'seconds', 'shutdown drain deadline in seconds (default 10)'),
  F('ttlSeconds', 'ttl-seconds', 'ttl', 'registration TTL in seconds (default 15)'),
  F(
    'tokenFile',
    'token-file',
    'file',
    'bootstrap token file for the workload certificate (else TRELLIS_TOKEN)',
  ),
  {
    ...F('upstreams', 'upstream', 'upstreams', 'a local port forwarding to a Service port (repeatable)'),
    env: 'TRELLIS_UPSTREAMS',
  },
];

export const DEFAULTS = {
  namespace: 'default',
  labels: {},
  controlPlane: '127.0.0.1:15010',
  api: 'http://127.0.0.1:15000',
  appPort: 8080,
  appAddress: '127.0.0.1',
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15020,
  adminAddress: '127.0.0.1',
  instanceIp: '127.0.0.1',
  drainSeconds: 10,
  ttlSeconds: 15,
  appProbePeriodMs: 1000,
  appProbeTimeoutMs: 1000,
  upstreams: [],
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const HOSTNAME = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/;

/** A raw value and where it came from (`--app-port`, `TRELLIS_APP_PORT`, `proxy.yaml: appPort`). */
export interface Raw {
  readonly value: unknown;
  readonly from: string;
}

const bad = (from: string, what: string, got: unknown): never => {
  throw new TrellisError('BAD_REQUEST', `${from}: ${what} (got ${JSON.stringify(got)})`);
};

function str(r: Raw, what: string): string {
  if (typeof r.value === 'number' || typeof r.value === 'boolean') return String(r.value);
  if (typeof r.value !== 'string') return bad(r.from, what, r.value);
  return r.value.trim();
}

function int(r: Raw, min: number, max: number, what: string): number {
  const s = str(r, what);
  if (!/^\d+$/.test(s)) return bad(r.from, what, r.value);
  const n = Number(s);
  if (n < min || n > max) return bad(r.from, what, r.value);
  return n;
}

function labels(r: Raw): Record<string, string> {
  const what = 'must be labels k=v,k=v (keys like app or example.com/tier, values letters, digits, -_.)';
  const out: Record<string, string> = {};
  let pairs: [string, unknown][];
  if (typeof r.value === 'object' && r.value !== null && !Array.isArray(r.value))
    pairs = Object.entries(r.value);
  else {
    const s = str(r, what);
    pairs =
      s === ''
        ? []
        : s.split(',').map((p) => {
            const i = p.indexOf('=');
            return i < 0
              ? bad(r.from, `${what}; '${p}' has no '='`, r.value)
              : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
          });
  }
  for (const [k, v] of pairs) {
    if (!LABEL_KEY.test(k) || k.length > 253) bad(r.from, `${what}; bad key '${k}'`, r.value);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
      bad(r.from, `${what}; bad value for '${k}'`, r.value);
    if (k in out) bad(r.from, `${what}; '${k}' is given twice`, r.value);
    out[k] = v as string;
  }
  return out;
}

const UPSTREAM =
  /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?))?:(\d{1,5})=(\d{1,5})$/;

/** `NAME[.NS]:PORT=LOCALPORT` entries: repeated flags, a comma-separated string, or a list. */
function upstreams(r: Raw): UpstreamSpec[] {
  const what = 'must be NAME[.NAMESPACE]:PORT=LOCALPORT, e.g. reviews:9080=15080 or db.data:5432=15432';
  const items: unknown[] = Array.isArray(r.value)
    ? r.value.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]))
    : str(r, what).split(',');
  const out: UpstreamSpec[] = [];
  for (const item of items) {
    if (typeof item === 'string' && item.trim() === '') continue;
    const m = typeof item === 'string' ? UPSTREAM.exec(item.trim()) : null;
    if (m === null) return bad(r.from, what, item);
    const port = Number(m[3]);
    const localPort = Number(m[4]);
    if (port < 1 || port > 65535 || localPort < 1 || localPort > 65535)
      bad(r.from, `${what}; ports are 1-65535`, item);
    if (out.some((u) => u.localPort === localPort))
      bad(r.from, `${what}; local port ${localPort} is given twice`, r.value);
    out.push({ service: m[1] ?? '', ...(m[2] !== undefined ? { namespace: m[2] } : {}), port, localPort });
  }
  return out;
}

export function convert(f: Field, r: Raw): unknown {
  switch (f.kind) {
    case 'name': {
      const s = str(r, 'must be a DNS label');
      if (s.length > 63 || !DNS_LABEL.test(s))
        bad(
          r.from,
          "must be a DNS label: lower-case letters, digits and '-', at most 63 characters",
          r.value,
        );
      return s;
    }
    case 'id': {
      const s = str(r, 'must be an id');
      if (s.length > 253 || !ID.test(s))
        bad(
          r.from,
          "must be letters, digits and '.', '_', ':', '-', starting with a letter or digit",
          r.value,
        );
      return s;
    }
    case 'labels':
      return labels(r);
    case 'hostport': {
      const s = str(r, 'must be HOST:PORT');
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d+)$/.exec(s);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65535)
        bad(r.from, 'must be HOST:PORT with a port 1-65535, e.g. 127.0.0.1:15010', r.value);
      return s;
    }
    case 'url': {
      const s = str(r, 'must be an http(s) URL');
      let u: URL | undefined;
      try {
        u = new URL(s);
      } catch {
        /* reported below */
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
        bad(r.from, 'must be an http:// or https:// URL, e.g. http://127.0.0.1:15000', r.value);
      return s.replace(/\/+$/, '');
    }
    case 'port':
      return int(
        r,
        1,
        65535,
        'must be a port number 1-65535 (the control plane sends no listener for port 0)',
      );
    case 'appPort':
      return int(r, 0, 65535, 'must be a port number 0-65535');
    case 'ip': {
      const s = str(r, 'must be an IP address');
      if (isIP(s) === 0)
        bad(r.from, 'must be an IPv4 or IPv6 address (it is registered as the instance address)', r.value);
      return s;
    }
    case 'host': {
      const s = str(r, 'must be a host');
      if (isIP(s) === 0 && !HOSTNAME.test(s)) bad(r.from, 'must be an IP address or a host name', r.value);
      return s;
    }
    case 'path': {
      const s = str(r, 'must be a path');
      if (!s.startsWith('/') || !/^[\x21-\x7e]+$/.test(s))
        bad(r.from, "must be an HTTP path starting with '/', printable ASCII without spaces", r.value);
      return s;
    }
    case 'seconds': {
      const s = str(r, 'must be seconds');
      const n = Number(s);
      if (s === '' || !Number.isFinite(n) || n < 0 || n > 3600)
        bad(r.from, 'must be a number of seconds 0-3600', r.value);
      return n;
    }
    case 'ms':
      return int(r, 10, 300_000, 'must be whole milliseconds 10-300000');
    case 'ttl':
      return int(r, 3, 3600, 'must be whole seconds 3-3600');
    case 'file': {
      const s = str(r, 'must be a file path');
      if (s === '' || s.includes('\0')) bad(r.from, 'must be a file path', r.value);
      return s;
    }
    case 'upstreams':
      return upstreams(r);
  }
}

/** The flags section of `trellis help` for the proxy. */
export function bootstrapHelp(): string {
  const arg: Record<Kind, string> = {
    name: 'NAME',
    id: 'ID',
    labels: 'K=V,...',
    hostport: 'HOST:PORT',
    url: 'URL',
    port: 'N',
    appPort: 'N',
    ip: 'IP',
    host: 'ADDR',
    path: 'PATH',
    seconds: 'S',
    ms: 'MS',
    ttl: 'S',
    file: 'FILE',
    upstreams: 'SVC[.NS]:PORT=LOCAL',
  };
  const rows = BOOTSTRAP_FIELDS.map(
    (f) => `  --${f.flag} ${arg[f.kind]} `.padEnd(28) + `${f.help} [${f.env}]`,
  );
  rows.push(
    '  --bootstrap FILE'.padEnd(28) +
      'JSON or YAML file with these settings (camelCase keys) [TRELLIS_BOOTSTRAP]',
  );
  rows.push(...limitsHelp());
  return rows.join('\n');
}
