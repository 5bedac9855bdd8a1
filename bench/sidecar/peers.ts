// The peers: installs HAProxy, nginx and wrk from Debian when missing, writes their configs into
// the temp dir (never system config), and starts the upstream and the peer proxies on loopback.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BODIES } from './bodies.js';
import { freePort, startChild, waitForPort, type Child } from './procs.js';

export const CPU_LOAD = 0;
export const CPU_PROXY = 1;

const onPath = (cmd: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export interface Tools {
  haproxy: boolean;
  nginx: boolean;
  wrk: boolean;
  /** One line per tool that could not be had, e.g. "MISSING haproxy: apt-get not found". */
  missing: string[];
}

/** Installs the missing Debian packages (haproxy, nginx, wrk) with apt-get when possible. */
export function ensureTools(): Tools {
  const want = { haproxy: 'haproxy', nginx: 'nginx', wrk: 'wrk' } as const;
  const lacking = (Object.keys(want) as (keyof typeof want)[]).filter((t) => !onPath(t));
  let why = '';
  if (lacking.length > 0) {
    if (!onPath('apt-get')) why = 'apt-get not found';
    else if (process.getuid?.() !== 0) why = 'not root, cannot apt-get install';
    else {
      console.log(`installing from Debian: ${lacking.join(' ')} (apt-get install -y) ...`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const run = (args: string[]) =>
        spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 240_000 });
      let r = run(['install', '-y', ...lacking]);
      if (r.status !== 0) {
        run(['update']);
        r = run(['install', '-y', ...lacking]);
      }
      if (r.status !== 0)
        why = `apt-get install failed: ${r.stderr?.toString().trim().split('\n').pop() ?? ''}`;
    }
  }
  const tools: Tools = {
    haproxy: onPath('haproxy'),
    nginx: onPath('nginx'),
    wrk: onPath('wrk'),
    missing: [],
  };
  for (const t of Object.keys(want) as (keyof typeof want)[])
    if (!tools[t]) tools.missing.push(`MISSING ${t}: ${why || 'not installed'}`);
  return tools;
}

export function toolVersions(tools: Tools): string {
  const v = (cmd: string, args: string[], re: RegExp): string => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return re.exec(out)?.[1] ?? '?';
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string };
      return re.exec(`${e.stdout ?? ''}${e.stderr ?? ''}`)?.[1] ?? '?';
    }
  };
  const parts = [`node ${process.versions.node}`];
  if (tools.haproxy) parts.push(`HAProxy ${v('haproxy', ['-v'], /version (\S+)/)}`);
  if (tools.nginx)
    parts.push(`nginx ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.split('/')[1]?.trim()}`);
  if (tools.wrk) parts.push(`wrk ${v('wrk', ['--version'], /wrk (\S+)/)}`);
  return parts.join(', ');
}

/** A proxy (or upstream) process listening on 127.0.0.1:port. */
export interface Listening {
  readonly child: Child;
  readonly port: number;
}

const nginxCommon = (dir: string, name: string) => `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${join(dir, `${name}-tmp`)};
  proxy_temp_path ${join(dir, `${name}-tmp`)};
  fastcgi_temp_path ${join(dir, `${name}-tmp`)};
  uwsgi_temp_path ${join(dir, `${name}-tmp`)};
  scgi_temp_path ${join(dir, `${name}-tmp`)};
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type text/plain;
`;

async function startNginx(
  dir: string,
  name: string,
  conf: string,
  port: number,
  cpu: number,
): Promise<Listening> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const child = startChild(name, 'nginx', ['-p', dir, '-e', join(dir, `${name}-error.log`), '-c', file], cpu);
  await waitForPort(port, child);
  return { child, port };
}

/** nginx (CPU 0): `return 200` with the small body at /small; /4k a 4 KiB file (too long for `return`). */
export async function startNginxUpstream(dir: string): Promise<Listening> {
  const port = await freePort();
  writeFileSync(join(dir, '4k.txt'), BODIES['4k']);
  const conf = `${nginxCommon(dir, 'upstream')}  open_file_cache max=16 inactive=600s;
  etag off;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /small { return 200 ${JSON.stringify(BODIES.small)}; }
    location = /4k { alias ${join(dir, '4k.txt')}; }
  }
}
`;
  return startNginx(dir, 'upstream', conf, port, CPU_LOAD);
}

/** The fallback upstream: a raw `net` server in Node with canned responses. */
export async function startCannedUpstream(): Promise<Listening> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./canned-upstream.js', import.meta.url));
  const child = startChild('upstream (node net)', process.execPath, [script, String(port)], CPU_LOAD);
  await waitForPort(port, child);
  return { child, port };
}

/** nginx as a keep-alive reverse proxy from a new port to `target`, one worker, on CPU 1. */
export async function startNginxProxy(dir: string, name: string, target: number): Promise<Listening> {
  const port = await freePort();
  const conf = `${nginxCommon(dir, name)}  upstream target {
    server 127.0.0.1:${target};
    keepalive 128;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  return startNginx(dir, name, conf, port, CPU_PROXY);
}

/** HAProxy in HTTP mode with keep-alive both sides and connection reuse, one thread, on CPU 1. */
export async function startHaproxy(dir: string, name: string, target: number): Promise<Listening> {
  const port = await freePort();
  const file = join(dir, `${name}.cfg`);
  writeFileSync(
    file,
    `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server s1 127.0.0.1:${target}
`,
  );
  const child = startChild(name, 'haproxy', ['-db', '-f', file], CPU_PROXY);
  await waitForPort(port, child);
  return { child, port };
}

/** node-http-proxy in a child process, on CPU 1. */
export async function startHttpProxy(name: string, target: number): Promise<Listening> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./http-proxy-server.js', import.meta.url));
  const child = startChild(name, process.execPath, [script, String(port), String(target)], CPU_PROXY);
  await waitForPort(port, child);
  return { child, port };
}

/**
 * The Node floor in a child process on CPU 1 (bench/sidecar/node-pipe-server.ts): bytes piped to
 * `target` with no HTTP work; `tls` makes it one side of a mutual-TLS hop (certificates from
 * makeCerts).
 */
export async function startNodePipe(
  name: string,
  target: number,
  tls?: { side: 'client' | 'server'; certs: BenchCerts },
): Promise<Listening> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./node-pipe-server.js', import.meta.url));
  const args = [script, String(port), String(target)];
  if (tls)
    args.push(`tls-${tls.side}`, tls.certs.ca, tls.side === 'client' ? tls.certs.client : tls.certs.server);
  const child = startChild(name, process.execPath, args, CPU_PROXY);
  await waitForPort(port, child);
  return { child, port };
}

/** PEM files for the HAProxy TLS pair, made with openssl in the temp dir. */
export interface BenchCerts {
  ca: string;
  /** The second HAProxy's serving certificate + key (one PEM, HAProxy's `crt`). */
  server: string;
  /** The first HAProxy's client certificate + key. */
  client: string;
}

/**
 * A throwaway CA (EC P-256) and two leaf certificates signed by it: a server one for 127.0.0.1 and
 * a client one. The same key type and TLS 1.3 as the mesh's workload certificates.
 */
export function makeCerts(dir: string): BenchCerts {
  const p = (n: string) => join(dir, n);
  const ssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    if (r.status !== 0)
      throw new Error(`openssl ${args[0]} failed: ${r.stderr?.toString().trim().slice(0, 300)}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=bench-ca',
  ]);
  writeFileSync(
    p('ext-server.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  writeFileSync(
    p('ext-client.cnf'),
    'subjectAltName=URI:spiffe://bench/client\nextendedKeyUsage=clientAuth\n',
  );
  for (const who of ['server', 'client']) {
    ssl(['req', ...ec, '-keyout', p(`${who}.key`), '-out', p(`${who}.csr`), '-subj', `/CN=bench-${who}`]);
    ssl([
      'x509',
      '-req',
      '-in',
      p(`${who}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`ext-${who}.cnf`),
      '-out',
      p(`${who}.crt`),
    ]);
    writeFileSync(
      p(`${who}.pem`),
      readFileSync(p(`${who}.crt`), 'utf8') + readFileSync(p(`${who}.key`), 'utf8'),
    );
  }
  return { ca: p('ca.pem'), server: p('server.pem'), client: p('client.pem') };
}

/**
 * The HAProxy pair with mutual TLS between the two: `a` (plain frontend) → TLS with a client
 * certificate, server verified against the CA → `b` (TLS frontend requiring a client certificate
 * from the CA) → plain to the upstream. Keep-alive and `http-reuse always` on both; with `h2`, the
 * hop between them negotiates HTTP/2 by ALPN (one multiplexed connection).
 */
export async function startHaproxyTlsPair(
  dir: string,
  certs: BenchCerts,
  target: number,
  h2: boolean,
): Promise<{ a: Listening; b: Listening }> {
  const tag = h2 ? 'tls-h2' : 'tls';
  const [portA, portB] = [await freePort(), await freePort()];
  const common = `global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
`;
  const alpnBind = h2 ? ' alpn h2,http/1.1' : ' alpn http/1.1';
  const alpnServer = h2 ? ' alpn h2' : ' alpn http/1.1';
  const fileB = join(dir, `haproxy-${tag}-b.cfg`);
  writeFileSync(
    fileB,
    `${common}frontend fe
  bind 127.0.0.1:${portB} ssl crt ${certs.server} ca-file ${certs.ca} verify required${alpnBind}
  default_backend be
backend be
  server s1 127.0.0.1:${target}
`,
  );
  const fileA = join(dir, `haproxy-${tag}-a.cfg`);
  writeFileSync(
    fileA,
    `${common}frontend fe
  bind 127.0.0.1:${portA}
  default_backend be
backend be
  server s1 127.0.0.1:${portB} ssl verify required ca-file ${certs.ca} crt ${certs.client} sni str(localhost)${alpnServer}
`,
  );
  const b = startChild(`haproxy-${tag}-b`, 'haproxy', ['-db', '-f', fileB], CPU_PROXY);
  await waitForPort(portB, b);
  const a = startChild(`haproxy-${tag}-a`, 'haproxy', ['-db', '-f', fileA], CPU_PROXY);
  await waitForPort(portA, a);
  return { a: { child: a, port: portA }, b: { child: b, port: portB } };
}
