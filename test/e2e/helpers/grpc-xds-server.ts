// A proxyless gRPC server (@grpc/grpc-js-xds XdsServer, gRFC A36) for the e2e tests: the Echo
// service on BIND (IP:PORT) with XdsServerCredentials (insecure fallback), configured by the server
// Listener the control plane sends for that address (GRPC_XDS_BOOTSTRAP, as in production). Each
// Hello answers with its name, the transport, and the caller's identity: the URI SAN of the
// client certificate from the call's auth context (what the TLS handshake verified). Prints one
// JSON line `{"serving": PORT}` once it serves, `{"error": ...}` if binding fails. BIND defaults to
// 127.0.0.1:$PORT (as `trellis up` runs a proxyless Workload); replies name TRELLIS_REPLICA if set.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { ECHO_SERVICE } from './echo-service.js';

xds.register();

export interface ServerReply {
  server: string;
  /** `tls` when the call came over TLS, else `plaintext`. */
  transport: string;
  /** The client certificate's URI SAN (its SPIFFE ID), when it sent one. */
  peer?: string;
  /** TRELLIS_REPLICA of the server process, under `trellis up`. */
  replica?: string;
}

const bind = process.env['BIND'] ?? `127.0.0.1:${process.env['PORT'] ?? ''}`;
const replica = process.env['TRELLIS_REPLICA'];
const server = new xds.XdsServer();
server.addService(ECHO_SERVICE, {
  Hello: (call: grpc.ServerUnaryCall<unknown, ServerReply>, cb: grpc.sendUnaryData<ServerReply>) => {
    const auth = call.getAuthContext();
    const san = auth.sslPeerCertificate?.subjectaltname ?? '';
    const uri = san
      .split(', ')
      .find((s) => s.startsWith('URI:'))
      ?.slice('URI:'.length);
    cb(null, {
      server: 'inventory',
      transport: auth.transportSecurityType ?? 'plaintext',
      ...(uri !== undefined ? { peer: uri } : {}),
      ...(replica !== undefined ? { replica } : {}),
    });
  },
});
server.bindAsync(
  bind,
  new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()),
  (e: Error | null, port: number) => {
    process.stdout.write(`${JSON.stringify(e ? { error: e.message } : { serving: port })}\n`);
  },
);
const stop = (): void => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
