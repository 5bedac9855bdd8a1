// What `trellis up` runs for one Workload replica, as pure functions: the launch template resolved
// from the Workload and the Services it names, the sidecar's argv (a proxyless Workload's
// grpc-agent's), and the app's environment.
import { isAbsolute, join, resolve } from 'node:path';
import { splitServiceRef } from '../api/analyze-workload.js';
import type { ServiceResource, WorkloadResource } from '../api/types.js';

/** One upstream with its Service port resolved. */
export interface UpstreamLaunch {
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  /** Env var that receives `127.0.0.1:<local port>`. */
  readonly env: string;
}

/** Everything needed to start any replica of a Workload, except the replica's ports. */
export interface LaunchTemplate {
  /** `namespace/name`. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly service: string;
  readonly command: readonly string[];
  /** Absolute. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly fixedPort?: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly readyPath?: string;
  readonly periodMs: number;
  /** The readinessProbe timeout, passed to the sidecar, which checks the app. */
  readonly timeoutMs: number;
  readonly upstreams: readonly UpstreamLaunch[];
  /** A proxyless gRPC app: a grpc-agent instead of a sidecar (grpcAgentArgs, proxylessAppEnv). */
  readonly proxyless?: true;
  readonly replicas: number;
  /** Why replicas cannot start (e.g. an upstream Service was deleted), if they cannot. */
  readonly problem?: string;
  /** Identity of everything but `replicas`: running replicas restart when it changes. */
  readonly fingerprint: string;
}

/** The ports of one replica on 127.0.0.1. */
export interface ReplicaPorts {
  readonly app: number;
  readonly inbound: number;
  readonly outbound: number;
  readonly admin: number;
  /** One local port per template upstream, in order. */
  readonly upstreams: readonly number[];
}

/** Where the sidecars reach the control plane. */
export interface ControlPlaneAddress {
  /** xDS `127.0.0.1:PORT`: the control plane's secure (TLS) port. */
  readonly xds: string;
  /** The sidecar API base URL (https://127.0.0.1:PORT, the same secure port). */
  readonly api: string;
  /** The CA trust bundle file the sidecars verify the control plane with (--ca-bundle). */
  readonly caBundle?: string;
  /** The plaintext xDS listener `127.0.0.1:PORT` for proxyless gRPC apps, when it is on. */
  readonly plaintextXds?: string;
}

export const workloadKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** `catalog-1`, or `catalog.shop-1` outside the default namespace: log prefix, node id, file name. */
export const replicaId = (namespace: string, name: string, index: number): string =>
  `${namespace === 'default' ? name : `${name}.${namespace}`}-${index}`;

export function buildLaunchTemplate(
  w: WorkloadResource,
  services: ReadonlyMap<string, ServiceResource>,
  baseDir: string,
  /** Why proxyless Workloads cannot run here (no plaintext xDS, no CA), if they cannot. */
  proxylessProblem?: string,
): LaunchTemplate {
  const ns = w.metadata.namespace;
  const problems: string[] = [];
  if (!services.has(`${ns}/${w.spec.service}`))
    problems.push(`Service ${ns}/${w.spec.service} does not exist`);
  if (w.spec.proxyless === true && proxylessProblem !== undefined) problems.push(proxylessProblem);
  const upstreams: UpstreamLaunch[] = [];
  for (const u of w.spec.upstreams) {
    const [uns, name] = splitServiceRef(u.service, ns);
    const svc = services.get(`${uns}/${name}`);
    const port = u.port ?? svc?.spec.ports[0]?.port;
    if (port === undefined) problems.push(`upstream Service ${uns}/${name} does not exist`);
    else upstreams.push({ service: name, namespace: uns, port, env: u.env });
  }
  const wd = w.spec.workingDir;
  const base = {
    key: workloadKey(ns, w.metadata.name),
    name: w.metadata.name,
    namespace: ns,
    service: w.spec.service,
    command: w.spec.command,
    cwd: wd === undefined ? baseDir : isAbsolute(wd) ? wd : resolve(baseDir, wd),
    env: w.spec.env,
    ...(w.spec.port !== undefined && { fixedPort: w.spec.port }),
    labels: w.spec.labels,
    ...(w.spec.readinessProbe.httpPath !== undefined && { readyPath: w.spec.readinessProbe.httpPath }),
    periodMs: w.spec.readinessProbe.periodMs,
    timeoutMs: w.spec.readinessProbe.timeoutMs,
    upstreams,
    ...(w.spec.proxyless === true && { proxyless: true as const }),
    ...(problems.length > 0 && { problem: problems.join('; ') }),
  };
  return { ...base, replicas: w.spec.replicas, fingerprint: JSON.stringify(base) };
}

const labelFlag = (labels: Readonly<Record<string, string>>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** argv (after the node binary) of the replica's sidecar. */
export function sidecarArgs(
  t: LaunchTemplate,
  index: number,
  ports: ReplicaPorts,
  cp: ControlPlaneAddress,
  trellisBin: string,
  drainSeconds: number,
  tokenFile?: string,
  /** The xDS node and instance id; default the replica id. A replacement during a rolling update
   * runs beside the replica it replaces, so it needs an id of its own (`<replica>.g<generation>`):
   * the old sidecar's deregistration must not remove the new one's instance. */
  nodeId?: string,
): string[] {
  const args = [
    trellisBin,
    'proxy',
    '--service',
    t.service,
    '--namespace',
    t.namespace,
    '--node-id',
    nodeId ?? replicaId(t.namespace, t.name, index),
    ...(Object.keys(t.labels).length > 0 ? ['--labels', labelFlag(t.labels)] : []),
    '--app-port',
    String(ports.app),
    '--inbound-port',
    String(ports.inbound),
    '--outbound-port',
    String(ports.outbound),
    '--admin-port',
    String(ports.admin),
    '--control-plane',
    cp.xds,
    '--api',
    cp.api,
    '--drain-seconds',
    String(drainSeconds),
  ];
  if (t.readyPath !== undefined) args.push('--app-ready-path', t.readyPath);
  args.push('--app-probe-period-ms', String(t.periodMs), '--app-probe-timeout-ms', String(t.timeoutMs));
  if (cp.caBundle !== undefined) args.push('--ca-bundle', cp.caBundle);
  if (tokenFile !== undefined) args.push('--token-file', tokenFile);
  t.upstreams.forEach((u, i) =>
    args.push('--upstream', `${u.service}.${u.namespace}:${u.port}=${ports.upstreams[i]}`),
  );
  return args;
}

/** Where a proxyless replica's grpc-agent keeps its files (key, chain, roots, bootstrap.json). */
export const grpcAgentOut = (dir: string, replica: string): string => join(dir, replica);

/**
 * argv (after the node binary) of a proxyless replica's `trellis grpc-agent`: identity files and
 * the xDS bootstrap in `out`, the app's port registered (with the labels) once it accepts.
 */
export function grpcAgentArgs(
  t: LaunchTemplate,
  ports: Pick<ReplicaPorts, 'app'>,
  cp: ControlPlaneAddress,
  trellisBin: string,
  out: string,
  tokenFile: string,
  nodeId: string,
): string[] {
  return [
    trellisBin,
    'grpc-agent',
    '--service',
    t.service,
    '--namespace',
    t.namespace,
    '--token-file',
    tokenFile,
    '--out',
    out,
    '--xds',
    cp.plaintextXds ?? '',
    '--api',
    cp.api,
    ...(cp.caBundle !== undefined ? ['--ca-bundle', cp.caBundle] : []),
    '--node-id',
    nodeId,
    '--serve',
    `127.0.0.1:${ports.app}`,
    ...(Object.keys(t.labels).length > 0 ? ['--labels', labelFlag(t.labels)] : []),
  ];
}

/**
 * A proxyless app's environment: its gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP), RBAC on in
 * grpc-js-xds (a server refuses a Listener with policies without it), PORT and which Workload it
 * is; no proxy variables (there is no sidecar).
 */
export function proxylessAppEnv(
  t: LaunchTemplate,
  index: number,
  ports: Pick<ReplicaPorts, 'app'>,
  parent: Readonly<Record<string, string>>,
  bootstrapFile: string,
): Record<string, string> {
  return {
    ...parent,
    GRPC_XDS_EXPERIMENTAL_RBAC: 'true',
    ...t.env,
    GRPC_XDS_BOOTSTRAP: bootstrapFile,
    PORT: String(ports.app),
    TRELLIS_WORKLOAD: t.name,
    TRELLIS_NAMESPACE: t.namespace,
    TRELLIS_SERVICE: t.service,
    TRELLIS_REPLICA: String(index),
  };
}

const LOOPBACK = '127.0.0.1,localhost,::1';

/** Environment for the processes `trellis up` starts: the parent's, minus its TRELLIS_* settings. */
export function inheritedEnv(parent: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent))
    if (v !== undefined && (!k.startsWith('TRELLIS_') || k === 'TRELLIS_LOG_LEVEL')) out[k] = v;
  return out;
}

/**
 * The app's environment. The Workload's env may set HTTP_PROXY/NO_PROXY (or anything else of the
 * parent's), but not what wiring depends on: PORT, TRELLIS_* and the upstream address variables.
 */
export function appEnv(
  t: LaunchTemplate,
  index: number,
  ports: ReplicaPorts,
  parent: Readonly<Record<string, string>>,
): Record<string, string> {
  const proxy = `http://127.0.0.1:${ports.outbound}`;
  const env: Record<string, string> = {
    ...parent,
    HTTP_PROXY: proxy,
    http_proxy: proxy,
    NO_PROXY: LOOPBACK,
    no_proxy: LOOPBACK,
    ...t.env,
    PORT: String(ports.app),
    TRELLIS_OUTBOUND: `127.0.0.1:${ports.outbound}`,
    TRELLIS_WORKLOAD: t.name,
    TRELLIS_NAMESPACE: t.namespace,
    TRELLIS_SERVICE: t.service,
    TRELLIS_REPLICA: String(index),
  };
  t.upstreams.forEach((u, i) => (env[u.env] = `127.0.0.1:${ports.upstreams[i]}`));
  return env;
}
