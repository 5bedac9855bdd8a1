// Accepted sockets moved onto the onread path (moveToOnread) over real loopback sockets: the bytes
// read before the move come back as the head, later reads reach the callback, writes, addresses,
// half-close and close work, the server keeps counting the connection (maxConnections, close()),
// pushing into the Readable side pipes with backpressure (tunnels), and TLS sockets are not moved.
// Server-side TLS sockets switched in place (readTlsThroughOnread): head, reads, writes, the peer's
// end, pause/resume backpressure, and a corrupt record after the switch ('error', then 'close').
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { makeTlsCert } from '../../security/tls-testing.js';
import { moveToOnread, readTlsThroughOnread, type OnreadSocket } from './onread-socket.js';

/** A server that reads the first bytes as detection does (data, pause, unshift), then moves the socket. */
async function movingServer(
  callback: (this: Socket, n: number, buf: Buffer) => boolean,
  onMoved: (m: OnreadSocket, old: { remotePort?: number; localPort?: number }) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.once('data', (first: Buffer) => {
      s.pause();
      s.unshift(first);
      const was = { remotePort: s.remotePort, localPort: s.localPort };
      const m = moveToOnread(s, callback);
      assert.ok(m !== null, 'a plaintext accepted socket is moved');
      assert.ok(s.destroyed, 'the old socket is destroyed');
      onMoved(m, was);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

describe('moveToOnread', { timeout: 30_000 }, () => {
  it(
    'keeps head, addresses, reads, writes, half-close, close and the server count',
    { timeout: 5000 },
    async () => {
      const reads: Buffer[] = [];
      let moved: OnreadSocket | null = null;
      let was: { remotePort?: number; localPort?: number } = {};
      const gotMore = deferred();
      const { server, port } = await movingServer(
        function (n, buf) {
          reads.push(Buffer.from(buf.subarray(0, n)));
          if (Buffer.concat(reads).toString().includes('world')) gotMore.resolve();
          return true;
        },
        (m, w) => {
          moved = m;
          was = w;
        },
      );
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.write('hello ');
      await new Promise((r) => setTimeout(r, 50));
      c.write('world');
      await gotMore.promise;
      const m = moved as unknown as OnreadSocket;
      assert.equal(m.head?.toString(), 'hello ');
      assert.equal(Buffer.concat(reads).toString(), 'world');
      assert.equal(m.socket.remoteAddress, '127.0.0.1');
      assert.equal(m.socket.remotePort, c.localPort);
      assert.equal(m.socket.remotePort, was.remotePort);
      assert.equal(m.socket.localPort, port);
      assert.equal(m.socket.localPort, was.localPort);
      assert.equal(await connections(server), 1, 'the moved socket is counted once');
      // Writes, then the client's FIN arrives as 'end' (allowHalfOpen: we can still answer).
      const echoed = once(c, 'data');
      m.socket.write('answer');
      assert.equal(String((await echoed)[0]), 'answer');
      const ended = once(m.socket, 'end');
      c.end();
      await ended;
      const closed = once(m.socket, 'close');
      const tail = once(c, 'data');
      m.socket.end('bye');
      assert.equal(String((await tail)[0]), 'bye');
      await closed;
      assert.equal(await connections(server), 0);
      // close() completes once the moved socket is gone.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  );

  it('server.close() waits for a moved socket; maxConnections counts it', { timeout: 5000 }, async () => {
    let moved: OnreadSocket | null = null;
    const { server, port } = await movingServer(
      () => true,
      (m) => (moved = m),
    );
    server.maxConnections = 1;
    const c = connect(port, '127.0.0.1');
    c.write('x');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(moved !== null);
    // A second connection is refused: the moved one still counts.
    const c2 = connect(port, '127.0.0.1');
    c2.write('y');
    c2.on('error', () => undefined);
    await once(c2, 'close');
    let closed = false;
    server.close(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, false, 'close() waits for the open connection');
    (moved as unknown as OnreadSocket).socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, true);
    c.destroy();
  });

  it('pushing reads into the Readable side pipes them with backpressure', { timeout: 5000 }, async () => {
    const total = 8 * 1024 * 1024;
    let received = 0;
    let stops = 0;
    const done = deferred();
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _e, cb) {
        received += chunk.length;
        if (received >= total) done.resolve();
        setImmediate(cb);
      },
    });
    const { server, port } = await movingServer(
      function (n, buf) {
        const more = this.push(Buffer.from(buf.subarray(0, n)));
        if (!more) stops++;
        return more;
      },
      (m) => {
        if (m.head !== null) received += m.head.length;
        m.socket.pipe(slow);
      },
    );
    const c = connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < total / chunk.length; i++) c.write(chunk);
    await done.promise;
    assert.equal(received, total);
    assert.ok(stops > 0, 'reading stopped while the pipe was full');
    c.destroy();
    server.close();
  });

  it('leaves TLS sockets and ended sockets alone', { timeout: 5000 }, async () => {
    const server = createServer({ allowHalfOpen: true }, (s) => {
      const tls = new TLSSocket(s, { isServer: true });
      assert.equal(
        moveToOnread(tls, () => true),
        null,
      );
      tls.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
    c.on('error', () => undefined);
    await once(c, 'close');
    const s2 = createServer({ allowHalfOpen: true }, (s) => {
      s.resume();
      s.once('end', () => {
        assert.equal(
          moveToOnread(s, () => true),
          null,
        );
        s.destroy();
      });
    });
    s2.listen(0, '127.0.0.1');
    await once(s2, 'listening');
    const c2 = connect((s2.address() as AddressInfo).port, '127.0.0.1');
    c2.end('x');
    await once(c2, 'close');
    server.close();
    s2.close();
  });
});

describe('readTlsThroughOnread', { timeout: 30_000 }, () => {
  /**
   * A server that terminates TLS over accepted sockets (as inbound mTLS does), reads the first
   * decrypted bytes as the h2 sniff does (data, pause, unshift), then switches the TLS socket.
   */
  async function tlsServer(
    callback: (this: Socket, n: number, buf: Buffer) => boolean,
    onSwitched: (m: OnreadSocket) => void,
  ): Promise<{ server: Server; port: number }> {
    const c = await makeTlsCert(['localhost']);
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      const tls = new TLSSocket(s, { isServer: true, cert: c.cert, key: c.key });
      tls.on('error', () => tls.destroy());
      tls.once('secure', () => {
        // As inbound mTLS does (tls/handshake.ts): TLS errors after the handshake are 'error'.
        (tls as TLSSocket & { _releaseControl(): boolean })._releaseControl();
        tls.once('data', (first: Buffer) => {
          tls.pause();
          tls.unshift(first);
          const m = readTlsThroughOnread(tls, callback);
          assert.ok(m !== null, 'a server-side TLS socket is switched');
          assert.equal(m.socket, tls, 'in place');
          assert.equal(readTlsThroughOnread(tls, callback), null, 'only once');
          onSwitched(m);
          tls.resume();
        });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { server, port: (server.address() as AddressInfo).port };
  }
  const dial = (port: number): TLSSocket =>
    tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });

  it('keeps the head; reads, writes, the peer end and close work', { timeout: 5000 }, async () => {
    const reads: Buffer[] = [];
    let moved: OnreadSocket | null = null;
    const gotMore = deferred();
    const { server, port } = await tlsServer(
      function (n, buf) {
        assert.ok(this instanceof TLSSocket);
        reads.push(Buffer.from(buf.subarray(0, n)));
        if (Buffer.concat(reads).toString().includes('world')) gotMore.resolve();
        return true;
      },
      (m) => (moved = m),
    );
    const c = dial(port);
    await once(c, 'secureConnect');
    c.write('hello ');
    await new Promise((r) => setTimeout(r, 50));
    c.write('world');
    await gotMore.promise;
    const m = moved as unknown as OnreadSocket;
    assert.equal(m.head?.toString(), 'hello ');
    assert.equal(Buffer.concat(reads).toString(), 'world');
    const echoed = once(c, 'data');
    m.socket.write('answer');
    assert.equal(String((await echoed)[0]), 'answer');
    // The client's close_notify + FIN arrive as 'end' (half-open: we can still answer).
    const ended = once(m.socket, 'end');
    c.end();
    await ended;
    const closed = once(m.socket, 'close');
    const tail = once(c, 'data');
    m.socket.end('bye');
    assert.equal(String((await tail)[0]), 'bye');
    await closed;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a callback returning false stops reading; resume() restarts it', { timeout: 10_000 }, async () => {
    let moved: OnreadSocket | null = null;
    let received = 0;
    let calls = 0;
    let hold = true;
    const total = 4 * 1024 * 1024;
    const done = deferred();
    const { server, port } = await tlsServer(
      function (n) {
        received += n;
        calls++;
        if (received + (moved?.head?.length ?? 0) >= total) done.resolve();
        return !hold;
      },
      (m) => (moved = m),
    );
    const c = dial(port);
    await once(c, 'secureConnect');
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < total / chunk.length; i++) c.write(chunk);
    await new Promise((r) => setTimeout(r, 300));
    const m = moved as unknown as OnreadSocket;
    // One TLS read decrypts up to a record per callback; reading stopped after the first false.
    assert.ok(calls >= 1 && calls <= 8, `reading stopped (${calls} reads)`);
    assert.ok(received + (m.head?.length ?? 0) < total, 'not everything was read while held');
    hold = false;
    m.socket.resume();
    await done.promise;
    c.destroy();
    server.close();
  });

  it('a corrupt record after the switch errors and closes the socket', { timeout: 5000 }, async () => {
    let moved: OnreadSocket | null = null;
    const { server, port } = await tlsServer(
      () => true,
      (m) => (moved = m),
    );
    const raw = connect(port, '127.0.0.1');
    const c = tlsConnect({ socket: raw, rejectUnauthorized: false });
    c.on('error', () => undefined); // the server's alert
    await once(c, 'secureConnect');
    c.write('x');
    await new Promise((r) => setTimeout(r, 100));
    const m = moved as unknown as OnreadSocket;
    const errored = new Promise<Error>((resolve) => m.socket.once('error', resolve));
    const closed = new Promise((resolve) => m.socket.once('close', resolve));
    // An application-data record that fails to decrypt.
    raw.write(Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20, ...Buffer.alloc(32, 9)]));
    assert.match((await errored).message, /bad record mac/i);
    await closed;
    c.destroy();
    server.close();
  });
});
