// The ClientHello reader of TLS passthrough: the SNI of real ClientHellos (node:tls), bytes
// arriving one at a time, no SNI, not TLS, malformed and truncated input.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, it } from 'node:test';
import { parseClientHello } from './client-hello.js';

/** The first bytes a node:tls client sends (its ClientHello), with this SNI. */
async function helloBytes(servername: string | undefined): Promise<Buffer> {
  const got: Buffer[] = [];
  const server = createServer((s: Socket) => {
    s.on('data', (d: Buffer) => {
      got.push(d);
      s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => {
    const c = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername ? { servername } : {}),
      rejectUnauthorized: false,
    });
    c.on('error', () => resolve());
    c.on('close', () => resolve());
  });
  server.close();
  return Buffer.concat(got);
}

describe('parseClientHello', () => {
  it('reads the SNI of a real ClientHello, lower-cased, with every byte kept', async () => {
    const b = await helloBytes('Shop.Example');
    const r = parseClientHello(b);
    assert.ok('ok' in r && r.ok);
    assert.equal(r.serverName, 'shop.example');
    assert.equal(r.head, b);
  });

  it('asks for more until the whole ClientHello is in', async () => {
    const b = await helloBytes('a.b.example');
    for (let n = 0; n < b.length; n += 7) assert.ok('more' in parseClientHello(b.subarray(0, n)), `at ${n}`);
    const r = parseClientHello(b);
    assert.ok('ok' in r && r.ok && r.serverName === 'a.b.example');
  });

  it('no SNI (an IP address as the host): serverName undefined', async () => {
    const r = parseClientHello(await helloBytes(undefined));
    assert.ok('ok' in r && r.ok);
    assert.equal(r.serverName, undefined);
  });

  it('refuses what is not a ClientHello', async () => {
    const notTls = parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    assert.ok('ok' in notTls && !notTls.ok);
    const alert = parseClientHello(Buffer.from([21, 3, 3, 0, 2, 2, 40]));
    assert.ok('ok' in alert && !alert.ok);
    // A handshake record holding a ServerHello (type 2).
    const sh = parseClientHello(Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]));
    assert.ok('ok' in sh && !sh.ok);
    // A ClientHello whose extensions overrun it.
    const body = Buffer.from([3, 3, ...new Array<number>(32).fill(0), 0, 0, 2, 0, 1, 1, 0, 0xff, 0xff]);
    const rec = Buffer.concat([Buffer.from([22, 3, 1, 0, body.length + 4, 1, 0, 0, body.length]), body]);
    const over = parseClientHello(rec);
    assert.ok('ok' in over && !over.ok, JSON.stringify(over));
  });
});
