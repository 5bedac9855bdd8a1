// Child process: the floor of any Node.js proxy on this machine. It parses nothing: each accepted
// connection gets one connection to the target and bytes are piped both ways (`stream.pipe`), so
// what it costs is what Node 20 itself costs to move the bytes of a proxied request (event-loop
// wakeups, libuv, the stream layer, syscalls). A proxy that does HTTP work on top cannot cost less.
// Modes: `plain`; `tls-client` (plaintext in, mutual TLS 1.3 out: client certificate, server
// checked against the CA); `tls-server` (mutual TLS 1.3 in, client certificate required, plaintext
// out). The TLS pair is the floor of a sidecar pair with mTLS between.
// Usage: node node-pipe-server.js LISTEN_PORT TARGET_PORT [plain|tls-client|tls-server CA CERT_KEY_PEM]
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, createSecureContext } from 'node:tls';

const [listenPort, targetPort] = process.argv.slice(2, 4).map(Number) as [number, number];
const mode = process.argv[4] ?? 'plain';
const ca = process.argv[5] ? readFileSync(process.argv[5]) : undefined;
const certKey = process.argv[6] ? readFileSync(process.argv[6]) : undefined;

function join(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

if (mode === 'tls-server') {
  const server = createTlsServer(
    {
      key: certKey,
      cert: certKey,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
    },
    (down) => join(down, connect({ port: targetPort, host: '127.0.0.1', noDelay: true })),
  );
  server.listen(listenPort, '127.0.0.1');
} else {
  const context =
    mode === 'tls-client'
      ? createSecureContext({ key: certKey, cert: certKey, ca, minVersion: 'TLSv1.3' })
      : undefined;
  createServer({ noDelay: true }, (down) => {
    const up = context
      ? tlsConnect({
          port: targetPort,
          host: '127.0.0.1',
          servername: 'localhost',
          secureContext: context,
          ALPNProtocols: ['http/1.1'],
        }).setNoDelay(true)
      : connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
    join(down, up);
  }).listen(listenPort, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
