// A proxyless gRPC application (@grpc/grpc-js-xds) for the mesh mTLS tests, driven by JSON commands
// on stdin (one per line, one JSON answer per line on stdout). Its bootstrap comes from
// GRPC_XDS_BOOTSTRAP, as in production. `secure: true` dials with XdsChannelCredentials (insecure
// fallback): TLS with the bootstrap's certificate provider where the control plane asks for it;
// `secure: false` dials with plain insecure credentials (what an app without A29 does).
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { createInterface } from 'node:readline';
import { EchoClient } from './echo-service.js';

xds.register();

export interface MtlsReply {
  server: string;
  /** The x-forwarded-client-cert the server's app saw. */
  xfcc?: string;
}
type Command =
  | { op: 'hello'; target: string; n: number; secure: boolean }
  | { op: 'fresh'; target: string; secure: boolean }
  | { op: 'run'; target: string; secure: boolean; durationMs: number; intervalMs: number };

const credentials = (secure: boolean): grpc.ChannelCredentials =>
  secure
    ? new xds.XdsChannelCredentials(grpc.credentials.createInsecure())
    : grpc.credentials.createInsecure();

const clients = new Map<string, grpc.Client>();
function client(target: string, secure: boolean): grpc.Client {
  const key = `${secure}|${target}`;
  let c = clients.get(key);
  if (!c) {
    c = new EchoClient(target, credentials(secure));
    clients.set(key, c);
  }
  return c;
}

/** One Hello RPC on `c` (5 s deadline). */
function helloOn(c: grpc.Client): Promise<MtlsReply> {
  return new Promise((resolve, reject) => {
    (
      c as unknown as {
        Hello(
          req: object,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, r?: MtlsReply) => void,
        ): void;
      }
    ).Hello({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) =>
      e ? reject(e) : resolve(r!),
    );
  });
}

/** One RPC on a new channel with its own subchannel pool: a new connection and TLS handshake. */
async function fresh(target: string, secure: boolean): Promise<MtlsReply> {
  const c = new EchoClient(target, credentials(secure), { 'grpc.use_local_subchannel_pool': 1 });
  try {
    return await helloOn(c);
  } finally {
    c.close();
  }
}

async function run(cmd: Command): Promise<object> {
  const replies: MtlsReply[] = [];
  const errors: string[] = [];
  const record = (call: Promise<MtlsReply>): Promise<void> =>
    call.then(
      (r) => void replies.push(r),
      (e: grpc.ServiceError) => void errors.push(`${e.code}: ${e.details}`),
    );
  const one = (): Promise<void> => record(helloOn(client(cmd.target, cmd.secure)));
  if (cmd.op === 'fresh') await record(fresh(cmd.target, cmd.secure));
  else if (cmd.op === 'hello') for (let i = 0; i < cmd.n; i++) await one();
  else {
    const end = Date.now() + cmd.durationMs;
    const pending: Promise<void>[] = [];
    while (Date.now() < end) {
      pending.push(one());
      await new Promise((r) => setTimeout(r, cmd.intervalMs));
    }
    await Promise.all(pending);
  }
  return { replies, errors };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  run(JSON.parse(line) as Command).then(
    (out) => process.stdout.write(JSON.stringify({ ok: true, ...out }) + '\n'),
    (e: Error) => process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + '\n'),
  );
});
rl.on('close', () => {
  for (const c of clients.values()) c.close();
  process.exit(0);
});
