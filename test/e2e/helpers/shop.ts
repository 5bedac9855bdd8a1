// Helpers for the examples/shop tests: run a shop app (or any program) with its output collected
// line by line, wait for a line, stop it; call the shop's inventory over gRPC; plain HTTP GETs.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './processes.js';

export const SHOP_DIR = join(ROOT, 'examples/shop');
export const SHOP_TRAFFIC_DIR = join(ROOT, 'examples/shop-traffic');

export interface Program {
  readonly proc: ChildProcess;
  /** stdout and stderr lines so far. */
  readonly lines: string[];
  /** Resolves with the first line (already seen or to come) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (if still running) and resolves with the exit code (null if killed by signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code once it exits by itself; SIGKILL after `timeoutMs`. */
  wait(timeoutMs: number): Promise<number | null>;
}

export function startProgram(
  argv: readonly string[],
  opts: { env?: Record<string, string>; cwd?: string; detached?: boolean } = {},
): Program {
  const proc = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters)
      if (w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
  };
  createInterface({ input: proc.stdout! }).on('line', onLine);
  createInterface({ input: proc.stderr! }).on('line', onLine);
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const wait = async (timeoutMs: number) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const [code] = await exited;
    clearTimeout(t);
    return code;
  };
  return {
    proc,
    lines,
    waitForLine(re, timeoutMs = 10_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no line matching ${re} in ${timeoutMs} ms; output:\n${lines.join('\n')}`));
        }, timeoutMs);
        waiters.add(w);
        void exited.then(([code, sig]) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(
            new Error(`exited (${code ?? sig}) before a line matching ${re}; output:\n${lines.join('\n')}`),
          );
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return wait(timeoutMs);
    },
    wait,
  };
}

/** Runs examples/shop/apps/<app>.mjs with PORT and the given env; resolves once it logged `started`. */
export async function startShopApp(app: string, env: Record<string, string>): Promise<Program> {
  const p = startProgram([process.execPath, join(SHOP_DIR, 'apps', `${app}.mjs`)], { env });
  await p.waitForLine(new RegExp(`^${app} started `));
  return p;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET on a fresh connection (no keep-alive), so a test sees every request's own answer. */
export function httpGet(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function getJson<T>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const r = await httpGet(url, headers);
  try {
    return { status: r.status, body: JSON.parse(r.body) as T };
  } catch {
    throw new Error(`GET ${url}: ${r.status}, body is not JSON: ${r.body.slice(0, 300)}`);
  }
}

export interface StockItem {
  id: string;
  quantity: number;
}

interface InventoryClient extends Client {
  getStock(
    req: { ids: string[] },
    opts: { deadline: number },
    cb: (err: ServiceError | null, reply: { items: StockItem[]; instance: string }) => void,
  ): void;
  watchStock(req: { ids: string[] }): NodeJS.EventEmitter & { cancel(): void };
}

/** A grpc-js client of the shop's shop.Inventory at `address` (host:port, h2c). */
export function inventoryClient(address: string): InventoryClient {
  const def = loadSync(join(SHOP_DIR, 'apps/inventory.proto'), { keepCase: true, defaults: true });
  const pkg = loadPackageDefinition(def) as unknown as {
    shop: {
      Inventory: new (addr: string, creds: ReturnType<typeof credentials.createInsecure>) => InventoryClient;
    };
  };
  return new pkg.shop.Inventory(address, credentials.createInsecure());
}

export function getStock(
  client: InventoryClient,
  ids: string[],
  timeoutMs = 3000,
): Promise<{ items: StockItem[]; instance: string }> {
  return new Promise((resolve, reject) =>
    client.getStock({ ids }, { deadline: Date.now() + timeoutMs }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    ),
  );
}
