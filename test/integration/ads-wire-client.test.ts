// The sidecar's ADS client on its own HTTP/2 wire layer (src/proxy/xds-client/ads-wire-client.ts)
// against the real grpc-js ADS server with a fake translate: request/response, ACK vs subscription
// change, server close (GOAWAY), an unreachable server, cancel, responses past 64 KiB and past 1 MiB
// (flow control), a gRPC status in trailers, keepalive against a silent server, a server that sends
// GOAWAY(ENHANCE_YOUR_CALM), and node:http2 never loaded by it (checked in a child process).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logger.js';
import type { MeshSnapshot } from '../../src/api/mesh-snapshot.js';
import { type AdsServer, createAdsServer } from '../../src/control-plane/ads/server.js';
import { cla, cluster, fakeSnapshot, fakeTranslate, namesIn } from '../../src/control-plane/ads/testing.js';
import type { AdsClientLike, AdsStreamLike } from '../../src/xds/ads-client-types.js';
import { createWireAdsClient, DEFAULT_ADS_TIMING } from '../../src/proxy/xds-client/ads-wire-client.js';
import type { DiscoveryResponse } from '../../src/xds/discovery-codec.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/type-urls.js';

const NODE = { id: 'wire-node', cluster: 'greeter', locality: {}, metadata: { NAMESPACE: 'default' } };

function snapshot(extra: Record<string, Record<string, unknown>> = {}): MeshSnapshot {
  return fakeSnapshot(1, {
    [CLUSTER_TYPE]: { a: cluster('a'), b: cluster('b'), ...extra },
    [ENDPOINT_TYPE]: { a: cla('a', 8080), b: cla('b', 9090) },
  });
}

async function startServer(s: MeshSnapshot = snapshot()): Promise<{ server: AdsServer; port: number }> {
  const server = createAdsServer({
    logger: silentLogger(),
    clock: new FakeClock(),
    translate: fakeTranslate(),
  });
  const port = await server.listen('127.0.0.1', 0);
  server.setSnapshot(s);
  return { server, port };
}

/** Polls `cond` until true; rejects after `ms`. */
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Outcome = { kind: 'end' } | { kind: 'error'; err: Error & { code?: number } };

/** One h2 ADS stream, with responses queued and the terminal event recorded. */
class Probe {
  readonly stream: AdsStreamLike;
  readonly responses: DiscoveryResponse[] = [];
  outcome: Outcome | undefined;
  events = 0;

  constructor(readonly client: AdsClientLike) {
    this.stream = client.StreamAggregatedResources();
    this.stream.on('data', (r) => this.responses.push(r));
    this.stream.on('error', (err) => {
      this.events++;
      this.outcome ??= { kind: 'error', err };
    });
    this.stream.on('end', () => {
      this.events++;
      this.outcome ??= { kind: 'end' };
    });
  }

  send(req: Parameters<AdsStreamLike['write']>[0]): void {
    this.stream.write({ version_info: '', response_nonce: '', resource_names: [], ...req });
  }

  async next(ms = 5000): Promise<DiscoveryResponse> {
    await waitFor(() => this.responses.length > 0 || this.outcome !== undefined, 'a response', ms);
    const r = this.responses.shift();
    if (!r) throw new Error(`stream ended before a response: ${JSON.stringify(this.outcome)}`);
    return r;
  }

  async finished(ms = 5000): Promise<Outcome> {
    await waitFor(() => this.outcome !== undefined, 'the stream to end', ms);
    return this.outcome as Outcome;
  }
}

describe('wire ADS client against the grpc-js ADS server', () => {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function env(s?: MeshSnapshot): Promise<{ server: AdsServer; port: number; client: AdsClientLike }> {
    const e = await startServer(s);
    const client = createWireAdsClient(`127.0.0.1:${e.port}`);
    cleanups.push(() => e.server.close());
    cleanups.push(() => client.close());
    return { ...e, client };
  }

  it('opens a stream: a DiscoveryRequest gets a decoded DiscoveryResponse', async () => {
    const { server, client } = await env();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a', 'b'] });
    const r = await p.next();
    assert.equal(r.type_url, CLUSTER_TYPE);
    assert.deepEqual(namesIn(r), ['a', 'b']);
    assert.ok(r.version_info.length > 0 && r.nonce.length > 0);
    assert.equal(server.stats().streams, 1);
    assert.equal(server.listProxies()[0]?.nodeId, 'wire-node');
    p.stream.cancel();
  });

  it('an ACK gets no answer; a subscription change does', async () => {
    const { client } = await env();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const r1 = await p.next();
    p.send({
      type_url: CLUSTER_TYPE,
      version_info: r1.version_info,
      response_nonce: r1.nonce,
      resource_names: ['a'],
    });
    // The server answers in order on one stream: if the ACK were answered, that CDS response would
    // come before the EDS one asked for next.
    p.send({ type_url: ENDPOINT_TYPE, resource_names: ['b'] });
    const r2 = await p.next();
    assert.equal(r2.type_url, ENDPOINT_TYPE, 'the ACK was not answered');
    assert.deepEqual(namesIn(r2), ['b']);
    p.send({
      type_url: CLUSTER_TYPE,
      version_info: r1.version_info,
      response_nonce: r1.nonce,
      resource_names: ['a', 'b'],
    });
    const r3 = await p.next();
    assert.equal(r3.type_url, CLUSTER_TYPE);
    assert.deepEqual(namesIn(r3), ['a', 'b']);
    assert.equal(p.responses.length, 0);
    p.stream.cancel();
  });

  it('a server close ends the stream cleanly (one end event, no throw); the client can open again', async () => {
    const { server, client } = await env();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    await p.next();
    await server.close();
    const o = await p.finished();
    assert.equal(o.kind, 'end', JSON.stringify(o));
    assert.equal(p.events, 1);
    assert.equal(p.stream.write({ type_url: CLUSTER_TYPE }), false, 'writes after the end are dropped');
    // The session is gone with the server: a new stream on the same client reports an error.
    const p2 = new Probe(client);
    p2.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o2 = await p2.finished();
    assert.equal(o2.kind, 'error');
    assert.equal((o2 as { err: { code?: number } }).err.code, 14);
  });

  it('an unreachable server is reported promptly as UNAVAILABLE', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const a = s.address() as net.AddressInfo;
        s.close(() => resolve(a.port));
      });
    });
    const client = createWireAdsClient(`127.0.0.1:${port}`);
    cleanups.push(() => client.close());
    const start = Date.now();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o = await p.finished(3000);
    assert.ok(Date.now() - start < 3000);
    assert.equal(o.kind, 'error');
    assert.equal((o as { err: { code?: number } }).err.code, 14);
    assert.match((o as { err: Error }).err.message, /^14 UNAVAILABLE: /);
    await waitFor(() => p.events >= 1, 'events');
    assert.equal(p.events, 1);
  });

  it('cancel closes the stream; the server sees it end; no events follow', async () => {
    const { server, client } = await env();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    await p.next();
    assert.equal(server.stats().streams, 1);
    p.stream.cancel();
    p.stream.cancel();
    await waitFor(() => server.stats().streams === 0, 'the server to see the stream end');
    assert.equal(server.listProxies()[0]?.connected, false);
    assert.equal(p.events, 0);
    assert.equal(p.stream.write({ type_url: CLUSTER_TYPE }), false);
  });

  it('a response far larger than 64 KiB arrives whole (flow control)', async () => {
    const many: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 6000; i++) {
      const name = `outbound|8080||service-with-a-fairly-long-name-${i}.namespace-${i % 17}.svc`;
      many[name] = cluster(name, 1 + (i % 30));
    }
    const { client } = await env(snapshot(many));
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: [] });
    const r = await p.next(15_000);
    const bytes = r.resources.reduce((n, a) => n + a.value.length, 0);
    assert.ok(bytes > 256 * 1024, `response carries ${bytes} bytes`);
    assert.equal(r.resources.length, 6002);
    assert.deepEqual(namesIn(r), ['a', 'b', ...Object.keys(many)].sort());
    // The stream stays usable after it.
    p.send({ type_url: ENDPOINT_TYPE, resource_names: ['a'] });
    assert.deepEqual(namesIn(await p.next()), ['a']);
    p.stream.cancel();
  });

  it('a gRPC status from the server is surfaced as the error (code and message)', async () => {
    // The ADS service on a grpc-js server the test owns, so the service can be closed with the
    // server still up: a new call is then refused with UNAVAILABLE in trailers.
    const ads = createAdsServer({
      logger: silentLogger(),
      clock: new FakeClock(),
      translate: fakeTranslate(),
    });
    const gs = new grpc.Server();
    ads.addTo(gs);
    const port = await new Promise<number>((resolve, reject) =>
      gs.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => gs.forceShutdown());
    await ads.close();
    const client = createWireAdsClient(`127.0.0.1:${port}`);
    cleanups.push(() => client.close());
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o = await p.finished();
    assert.equal(o.kind, 'error', JSON.stringify(o));
    const err = (o as { err: Error & { code?: number } }).err;
    assert.equal(err.code, 14);
    assert.equal(err.message, '14 UNAVAILABLE: control plane shutting down');
    assert.equal(p.events, 1);
  });
});

/** A raw TCP "HTTP/2 server": reads the preface, sends its SETTINGS, then `then(socket)`. */
async function rawH2Server(then: (sock: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => undefined);
    let got = 0;
    let started = false;
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (started || got < 24) return;
      started = true;
      sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // empty SETTINGS
      then(sock);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close() {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

describe('wire ADS client: flow control past 1 MiB, keepalive, GOAWAY, no node:http2', () => {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('a response past 1 MiB arrives whole, then a second one on the same stream', async () => {
    const many: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 16_000; i++) {
      const name = `outbound|8080||service-with-a-fairly-long-name-${i}.namespace-${i % 17}.svc.cluster.local`;
      many[name] = cluster(name, 1 + (i % 30));
    }
    const { server, port } = await startServer(snapshot(many));
    const client = createWireAdsClient(`127.0.0.1:${port}`);
    cleanups.push(() => server.close());
    cleanups.push(() => client.close());
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: [] });
    const r = await p.next(20_000);
    const bytes = r.resources.reduce((n, a) => n + a.value.length, 0);
    assert.ok(bytes > 1024 * 1024, `response carries ${bytes} bytes`);
    assert.equal(r.resources.length, 16_002);
    // A second full push (a subscription change answered with everything again).
    p.send({
      type_url: CLUSTER_TYPE,
      version_info: r.version_info,
      response_nonce: r.nonce,
      resource_names: ['a'],
    });
    const r2 = await p.next(20_000);
    assert.equal(r2.type_url, CLUSTER_TYPE);
    p.send({ type_url: ENDPOINT_TYPE, resource_names: ['a'] });
    assert.deepEqual(namesIn(await p.next()), ['a']);
    assert.equal(p.outcome, undefined);
    p.stream.cancel();
  });

  it('keepalive: PINGs a quiet server that answers them and stays up', async () => {
    const { server, port } = await startServer();
    const timing = { ...DEFAULT_ADS_TIMING, keepaliveIdleMs: 100, keepaliveTimeoutMs: 300 };
    const client = createWireAdsClient(`127.0.0.1:${port}`, undefined, timing);
    cleanups.push(() => server.close());
    cleanups.push(() => client.close());
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    await p.next();
    await new Promise((r) => setTimeout(r, 1200)); // several PING rounds
    assert.equal(p.outcome, undefined, JSON.stringify(p.outcome));
    p.send({ type_url: ENDPOINT_TYPE, resource_names: ['b'] });
    assert.deepEqual(namesIn(await p.next()), ['b']);
    p.stream.cancel();
  });

  it('keepalive: a server that stops answering is UNAVAILABLE within idle + timeout', async () => {
    const raw = await rawH2Server(() => undefined); // never ACKs, never answers a PING
    cleanups.push(() => raw.close());
    const timing = { ...DEFAULT_ADS_TIMING, keepaliveIdleMs: 200, keepaliveTimeoutMs: 300 };
    const client = createWireAdsClient(`127.0.0.1:${raw.port}`, undefined, timing);
    cleanups.push(() => client.close());
    const start = Date.now();
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o = await p.finished(3000);
    assert.equal(o.kind, 'error');
    const err = (o as { err: Error & { code?: number } }).err;
    assert.equal(err.code, 14);
    assert.match(err.message, /keepalive: no answer to a PING within 300 ms/);
    assert.ok(Date.now() - start >= 450, 'not before idle + timeout');
    assert.equal(p.events, 1);
  });

  it('GOAWAY before the stream was taken: UNAVAILABLE naming the GOAWAY code', async () => {
    const raw = await rawH2Server((sock) => {
      // GOAWAY(last stream 0, ENHANCE_YOUR_CALM), then close.
      const g = Buffer.alloc(9 + 8);
      g.writeUIntBE(8, 0, 3);
      g[3] = 7;
      g.writeUInt32BE(0, 9);
      g.writeUInt32BE(11, 13);
      sock.end(g);
    });
    cleanups.push(() => raw.close());
    const client = createWireAdsClient(`127.0.0.1:${raw.port}`);
    cleanups.push(() => client.close());
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o = await p.finished(3000);
    assert.equal(o.kind, 'error');
    const err = (o as { err: Error & { code?: number } }).err;
    assert.equal(err.code, 14);
    assert.match(err.message, /GOAWAY \(ENHANCE_YOUR_CALM\)/);
    assert.equal(p.events, 1);
  });

  it('a plain HTTP/1.1 server is UNAVAILABLE, not a hang', async () => {
    const raw = await rawH2Server(() => undefined);
    raw.close();
    const srv = net.createServer((sock) => {
      sock.on('error', () => undefined);
      sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => srv.close());
    const client = createWireAdsClient(`127.0.0.1:${(srv.address() as net.AddressInfo).port}`);
    cleanups.push(() => client.close());
    const p = new Probe(client);
    p.send({ node: NODE, type_url: CLUSTER_TYPE, resource_names: ['a'] });
    const o = await p.finished(3000);
    assert.equal(o.kind, 'error');
    assert.equal((o as { err: Error & { code?: number } }).err.code, 14);
  });

  it('loading the client and the xDS client does not load node:http2', () => {
    const here = fileURLToPath(new URL('.', import.meta.url));
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(here + '../../src/proxy/xds-client/ads-wire-client.js')});
         await import(${JSON.stringify(here + '../../src/proxy/xds-client/index.js')});
         console.log(process.moduleLoadList.filter((m) => /http2/.test(m)).join(',') || 'none');`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(out.trim(), 'none');
  });
});
