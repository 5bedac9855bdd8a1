// A proxyless gRPC application (@grpc/grpc-js-xds) driven by JSON commands on stdin, one per line;
// it answers each with one JSON line on stdout. Its bootstrap comes from GRPC_XDS_BOOTSTRAP, as in production.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { createInterface } from 'node:readline';
import { EchoClient, type HelloReply } from './echo-service.js';

xds.register();

type Command =
  | { op: 'burst'; target: string; n: number; metadata?: Record<string, string>; concurrency?: number }
  | { op: 'run'; target: string; durationMs: number; intervalMs: number };

const clients = new Map<string, grpc.Client>();
function client(target: string): grpc.Client {
  let c = clients.get(target);
  if (!c) {
    c = new EchoClient(target, grpc.credentials.createInsecure());
    clients.set(target, c);
  }
  return c;
}

function hello(target: string, metadata?: Record<string, string>): Promise<string> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
  return new Promise((resolve, reject) => {
    (
      client(target) as unknown as {
        Hello(
          req: object,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, r?: HelloReply) => void,
        ): void;
      }
    ).Hello({}, md, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r!.server)));
  });
}

async function burst(cmd: Extract<Command, { op: 'burst' }>) {
  const counts: Record<string, number> = {};
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cmd.n) {
      next++;
      try {
        const s = await hello(cmd.target, cmd.metadata);
        counts[s] = (counts[s] ?? 0) + 1;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency ?? 10 }, worker));
  return { counts, errors };
}

async function run(cmd: Extract<Command, { op: 'run' }>) {
  const events: { t: number; server: string }[] = [];
  const errors: { t: number; message: string }[] = [];
  const end = Date.now() + cmd.durationMs;
  const pending: Promise<void>[] = [];
  while (Date.now() < end) {
    const t = Date.now();
    pending.push(
      hello(cmd.target).then(
        (server) => void events.push({ t, server }),
        (e: Error) => void errors.push({ t, message: e.message }),
      ),
    );
    await new Promise((r) => setTimeout(r, cmd.intervalMs));
  }
  await Promise.all(pending);
  return { events, errors };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line) as Command;
  const p = cmd.op === 'burst' ? burst(cmd) : run(cmd);
  p.then(
    (out) => process.stdout.write(JSON.stringify({ ok: true, ...out }) + '\n'),
    (e: Error) => process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + '\n'),
  );
});
rl.on('close', () => {
  for (const c of clients.values()) c.close();
  process.exit(0);
});
