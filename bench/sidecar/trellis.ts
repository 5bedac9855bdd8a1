// The Trellis rows: a real `trellis control-plane` child with the bench Services applied, and real
// `trellis proxy` sidecars (one alone; a client/server pair), each waited for until it carries traffic.
import { writeFileSync } from 'node:fs';
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
/** The Service behind the mTLS server sidecar (its sidecar holds an identity and registers with mTLS). */
export const MTLS_SERVER_SERVICE = 'bench-server-mtls';
/** The switch for HTTP/1.1 over one multiplexed HTTP/2 connection per peer (client sidecar env). */
export const MESH_H2_ENV = 'TRELLIS_MESH_H2';

export interface TrellisSetup {
  cp: Child;
  /** client → sidecar (outbound, Host bench-upstream:8080) → upstream */
  one: Listening & { host: string };
  /** client → client sidecar (outbound, Host bench-server:8080) → server sidecar (inbound) → upstream */
  pair: { client: Listening; server: Child; host: string };
  /** The same pair with identities (bootstrap tokens): mutual TLS between the sidecars. */
  mtls?: { client: Listening; server: Child; host: string };
  /** The mTLS pair whose client sidecar sends HTTP/1.1 as HTTP/2 streams on one connection. */
  mtlsH2?: { client: Listening; server: Child; host: string };
}

export interface TrellisWants {
  mtls: boolean;
  mtlsH2: boolean;
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
    // The CA and the TLS port (nothing here uses it: the sidecars take plaintext xDS on loopback).
    '--secure-port',
    '0',
    '--plaintext-xds-port',
    '0',
  ];
  const cp = startChild('trellis control-plane', process.execPath, args, CPU_LOAD);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const line of cp.tail) {
      if (!line.includes('control plane ready')) continue;
      const rec = JSON.parse(line) as { apiPort?: number; plaintextXdsPort?: number };
      if (rec.apiPort && rec.plaintextXdsPort)
        return {
          cp,
          apiUrl: `http://127.0.0.1:${rec.apiPort}`,
          xds: `127.0.0.1:${rec.plaintextXdsPort}`,
        };
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
  extra: { tokenFile?: string; env?: Record<string, string> } = {},
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
    ...(extra.tokenFile ? ['--token-file', extra.tokenFile] : []),
  ];
  const child = startChild(name, process.execPath, args, CPU_PROXY, extra.env);
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

/** A bootstrap token for the Service's identity (POST /api/v1/tokens on the loopback API), in a 0600 file. */
export async function tokenFile(dir: string, apiUrl: string, serviceAccount: string): Promise<string> {
  const r = (await apiCall(apiUrl, 'POST', '/api/v1/tokens', {
    namespace: 'default',
    serviceAccount,
    ttl: '2h',
  })) as { token: string };
  const file = join(dir, `${serviceAccount}.token`);
  writeFileSync(file, r.token + '\n', { mode: 0o600 });
  return file;
}

/** Starts the control plane and the sidecars; throws with a reason when Trellis cannot run. */
export async function startTrellis(
  dir: string,
  upstreamPort: number,
  wants: TrellisWants = { mtls: false, mtlsH2: false },
): Promise<TrellisSetup> {
  const cp = await startControlPlane(dir);
  // No MeshTLS: STRICT for every Service. The sidecars without identity register without mTLS, so
  // their pair stays plaintext; the ones with tokens present certificates and speak mTLS.
  await apiCall(cp.apiUrl, 'POST', '/api/v1/apply', {
    documents: [
      service(UPSTREAM_SERVICE, upstreamPort),
      service(SERVER_SERVICE),
      service(MTLS_SERVER_SERVICE),
    ],
  });
  const oneHost = `${UPSTREAM_SERVICE}:${SERVICE_PORT}`;
  const pairHost = `${SERVER_SERVICE}:${SERVICE_PORT}`;
  const one = await startSidecar('trellis-one', 'bench-client', 0, cp);
  // No identity, so it registers with a token for its Service (the plaintext API needs a credential).
  const server = await startSidecar('trellis-server', SERVER_SERVICE, upstreamPort, cp, {
    env: { TRELLIS_REGISTRATION_TOKEN_FILE: await tokenFile(dir, cp.apiUrl, SERVER_SERVICE) },
  });
  const client = await startSidecar('trellis-client', 'bench-client', 0, cp);
  await waitForTraffic(one, oneHost, 30_000);
  await waitForTraffic(client, pairHost, 30_000, [server.child]);
  const setup: TrellisSetup = {
    cp: cp.cp,
    one: { child: one.child, port: one.outbound, host: oneHost },
    pair: { client: { child: client.child, port: client.outbound }, server: server.child, host: pairHost },
  };
  if (!wants.mtls && !wants.mtlsH2) return setup;
  const mtlsHost = `${MTLS_SERVER_SERVICE}:${SERVICE_PORT}`;
  const mServer = await startSidecar('trellis-mtls-server', MTLS_SERVER_SERVICE, upstreamPort, cp, {
    tokenFile: await tokenFile(dir, cp.apiUrl, MTLS_SERVER_SERVICE),
  });
  const clientToken = await tokenFile(dir, cp.apiUrl, 'bench-client');
  const clients: [keyof TrellisSetup & ('mtls' | 'mtlsH2'), string][] = [];
  if (wants.mtls) clients.push(['mtls', 'off']);
  if (wants.mtlsH2) clients.push(['mtlsH2', 'on']);
  for (const [key, h2] of clients) {
    const c = await startSidecar(
      `trellis-${key === 'mtls' ? 'mtls' : 'mtls-h2'}-client`,
      'bench-client',
      0,
      cp,
      {
        tokenFile: clientToken,
        env: { [MESH_H2_ENV]: h2 },
      },
    );
    await waitForTraffic(c, mtlsHost, 30_000, [mServer.child]);
    setup[key] = { client: { child: c.child, port: c.outbound }, server: mServer.child, host: mtlsHost };
  }
  return setup;
}
