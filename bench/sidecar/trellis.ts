// The Trellis rows: a real `trellis control-plane` child with the bench Services applied, and real
// `trellis proxy` sidecars (one alone; a client/server pair), each waited for until it carries traffic.
import { join } from 'node:path';
import { apiCall, TRELLIS_BIN } from '../xds-sim/control-plane-child.js';
import { pathOf } from './bodies.js';
import { CPU_LOAD, CPU_PROXY, type Listening } from './peers.js';
import { alive, freePort, probe, sleep, startChild, type Child } from './procs.js';

export const SERVICE_PORT = 8080;
/** The Service the lone sidecar reaches: a static endpoint, the upstream itself. */
export const UPSTREAM_SERVICE = 'bench-upstream';
/** The Service behind the server-side sidecar: no static endpoints, its sidecar registers. */
export const SERVER_SERVICE = 'bench-server';

export interface TrellisSetup {
  cp: Child;
  /** client → sidecar (outbound, Host bench-upstream:8080) → upstream */
  one: Listening & { host: string };
  /** client → client sidecar (outbound, Host bench-server:8080) → server sidecar (inbound) → upstream */
  pair: { client: Listening; server: Child; host: string };
}

const service = (name: string, upstreamPort?: number) => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: {
    ports: [{ name: 'http', port: SERVICE_PORT, protocol: 'http' }],
    ...(upstreamPort !== undefined ? { endpoints: [{ address: '127.0.0.1', port: upstreamPort }] } : {}),
  },
});

async function startControlPlane(dir: string): Promise<{ cp: Child; apiUrl: string; xds: string }> {
  const args = [
    TRELLIS_BIN,
    'control-plane',
    '--data-dir',
    join(dir, 'cp-data'),
    '--api-port',
    '0',
    '--xds-port',
    '0',
  ];
  const cp = startChild('trellis control-plane', process.execPath, args, CPU_LOAD);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const line of cp.tail) {
      if (!line.includes('control plane ready')) continue;
      const rec = JSON.parse(line) as { apiPort?: number; xdsPort?: number };
      if (rec.apiPort && rec.xdsPort)
        return { cp, apiUrl: `http://127.0.0.1:${rec.apiPort}`, xds: `127.0.0.1:${rec.xdsPort}` };
    }
    if (!alive(cp)) break;
    await sleep(100);
  }
  throw new Error(`control plane not ready: ${cp.tail.slice(-5).join(' | ')}`);
}

interface Sidecar {
  child: Child;
  inbound: number;
  outbound: number;
  admin: number;
}

async function startSidecar(
  name: string,
  svc: string,
  appPort: number,
  cp: { apiUrl: string; xds: string },
): Promise<Sidecar> {
  const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
  const args = [
    TRELLIS_BIN,
    'proxy',
    '--service',
    svc,
    '--node-id',
    name,
    '--app-port',
    String(appPort),
    '--inbound-port',
    String(inbound),
    '--outbound-port',
    String(outbound),
    '--admin-port',
    String(admin),
    '--control-plane',
    cp.xds,
    '--api',
    cp.apiUrl,
  ];
  const child = startChild(name, process.execPath, args, CPU_PROXY);
  return { child, inbound, outbound, admin };
}

/** Polls until `GET path` through the port answers 200 (config arrived, endpoints known). */
async function waitForTraffic(
  s: Sidecar,
  host: string,
  timeoutMs: number,
  others: Child[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    for (const c of [s.child, ...others])
      if (!alive(c))
        throw new Error(`${c.name} exited (${c.proc.exitCode}): ${c.tail.slice(-4).join(' | ')}`);
    try {
      const r = await probe(s.outbound, pathOf('small'), host);
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(
    `${s.child.name}: no 200 through it after ${timeoutMs} ms (last: ${last}): ${s.child.tail.slice(-3).join(' | ')}`,
  );
}

/** Starts the control plane and three sidecars; throws with a reason when Trellis cannot run. */
export async function startTrellis(dir: string, upstreamPort: number): Promise<TrellisSetup> {
  const cp = await startControlPlane(dir);
  await apiCall(cp.apiUrl, 'POST', '/api/v1/apply', {
    documents: [service(UPSTREAM_SERVICE, upstreamPort), service(SERVER_SERVICE)],
  });
  const oneHost = `${UPSTREAM_SERVICE}:${SERVICE_PORT}`;
  const pairHost = `${SERVER_SERVICE}:${SERVICE_PORT}`;
  const one = await startSidecar('trellis-one', 'bench-client', 0, cp);
  const server = await startSidecar('trellis-server', SERVER_SERVICE, upstreamPort, cp);
  const client = await startSidecar('trellis-client', 'bench-client', 0, cp);
  await waitForTraffic(one, oneHost, 30_000);
  await waitForTraffic(client, pairHost, 30_000, [server.child]);
  return {
    cp: cp.cp,
    one: { child: one.child, port: one.outbound, host: oneHost },
    pair: { client: { child: client.child, port: client.outbound }, server: server.child, host: pairHost },
  };
}
