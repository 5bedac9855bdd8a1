// WireDownStream, the mesh stream as H2Exchange's downstream: what its sink (the exchange) is told
// and when — body held until readBody, drained away after a local answer, the peer's reset as
// onDownAborted then onDownClose (at once, no tick), our own reset, a response with trailers
// asked for through onWantTrailers — against our wire client over a real socket.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server, Socket } from 'node:net';
import type { DownSink } from '../h2/down-stream.js';
import { DEFAULT_WIRE_LIMITS, WireConnection } from './connection.js';
import { WireDownStream } from './server-stream.js';
import type { WireStream } from './stream.js';
import { Collect, listen, wireClient } from './test-helpers.js';

const req = (method: string, path: string): string[] => [
  ':method',
  method,
  ':scheme',
  'http',
  ':authority',
  'test',
  ':path',
  path,
];

/** Records the sink calls of each stream, and answers as the path says. */
class Sink implements DownSink {
  readonly log: string[] = [];
  body = '';
  constructor(
    readonly ds: WireDownStream,
    readonly path: string,
  ) {}
  onDownData(chunk: Buffer): void {
    this.body += chunk.toString();
    this.log.push('data');
  }
  onDownEnd(): void {
    this.log.push('end');
    if (this.path === '/echo') {
      this.ds.respond(200, ['x-got', this.body], false, true);
      this.ds.write(Buffer.from(this.body));
      this.ds.end();
    }
  }
  onDownDrain(): void {
    this.log.push('drain');
  }
  onDownAborted(): void {
    this.log.push(`aborted ${this.ds.rstCode}`);
  }
  onDownClose(): void {
    this.log.push(`close ${this.ds.rstCode}`);
  }
  onWantTrailers(): void {
    this.log.push('wantTrailers');
    this.ds.sendTrailers(['x-trailer', 'yes']);
  }
}

const sinks: Sink[] = [];

/** Waits (up to 3 s: the machine may be busy) until `f` holds. */
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
}

class Server1 extends WireConnection {
  constructor(socket: Socket) {
    super(socket, true, DEFAULT_WIRE_LIMITS);
  }
  protected onStream(s: WireStream, fields: string[], end: boolean): void {
    const ds = new WireDownStream(s, this.socket, end);
    const sink = new Sink(ds, fields[fields.indexOf(':path') + 1] as string);
    sinks.push(sink);
    ds.bind(sink);
    if (sink.path === '/echo') ds.readBody();
    else if (sink.path === '/local') ds.respond(403, ['content-type', 'text/plain'], true, false);
    else if (sink.path === '/reset') ds.close(0x8);
  }
}

describe('WireDownStream: the exchange-facing mesh stream', async () => {
  const { server, port } = await listen((sock) => new Server1(sock).start());
  after(() => (server as Server).close());
  const c = await wireClient(port);
  after(() => c.destroy());

  it('body read after readBody, response with trailers asked through onWantTrailers', async () => {
    const h = new Collect();
    const s = c.request(req('POST', '/echo'), false, h);
    s.write(Buffer.from('hello'));
    s.end();
    c.flush();
    await h.done;
    assert.equal(h.head?.[1], '200');
    assert.deepEqual(h.head?.slice(2), ['x-got', 'hello']);
    assert.equal(h.body.toString(), 'hello');
    assert.deepEqual(h.trailers, ['x-trailer', 'yes']);
    const sink = sinks.find((x) => x.path === '/echo');
    await until(() => sink?.ds.closed === true);
    assert.deepEqual(sink?.log, ['data', 'end', 'wantTrailers', 'close 0']);
  });

  it('a local answer before the body: the body drains away (never handed over), the stream closes', async () => {
    const h = new Collect();
    const s = c.request(req('POST', '/local'), false, h);
    s.write(Buffer.from('ignored'));
    s.end();
    c.flush();
    await h.done;
    assert.equal(h.head?.[1], '403');
    const sink = sinks.find((x) => x.path === '/local');
    await until(() => sink?.ds.closed === true);
    assert.deepEqual(sink?.log, ['end', 'close 0']);
  });

  it("the peer's reset: onDownAborted with its code, then onDownClose, in the same turn", async () => {
    const h = new Collect();
    const s = c.request(req('POST', '/hold'), false, h);
    s.write(Buffer.from('x'));
    c.flush();
    await until(() => sinks.some((x) => x.path === '/hold'));
    s.reset(0x8);
    c.flush();
    const sink = sinks.find((x) => x.path === '/hold');
    await until(() => sink?.ds.closed === true);
    assert.deepEqual(sink?.log, ['aborted 8', 'close 8'], 'body held (no readBody): no data');
    assert.equal(sink?.ds.aborted, true);
  });

  it('our own reset: onDownClose at once with the code, not aborted', async () => {
    const h = new Collect();
    c.request(req('GET', '/reset'), true, h);
    c.flush();
    await h.done;
    assert.equal(h.reset, 0x8);
    const sink = sinks.find((x) => x.path === '/reset');
    assert.deepEqual(sink?.log, ['close 8']);
    assert.equal(sink?.ds.aborted, false);
  });
});
