// inventory: stock levels over gRPC (shop.Inventory: GetStock unary, WatchStock server streaming),
// on 127.0.0.1:$PORT as h2c. Stock drifts (sales, restocks) so WatchStock has something to say.
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { Inventory } from './inventory-proto.mjs';
import { log, onShutdown, portFromEnv } from './lib.mjs';

const APP = 'inventory';
const port = portFromEnv(APP);
const instance = `${APP}@${process.pid}`;
const stock = new Map([
  ['p1', 12],
  ['p2', 40],
  ['p3', 3],
  ['p4', 0],
]);
const watchers = new Set();

const items = (ids) => {
  const wanted = ids.length ? ids : [...stock.keys()];
  const unknown = wanted.filter((id) => !stock.has(id));
  if (unknown.length) return { unknown };
  return { items: wanted.map((id) => ({ id, quantity: stock.get(id) })) };
};

// Every 2 s one product sells or is restocked; watchers of it hear about it.
const drift = setInterval(() => {
  const ids = [...stock.keys()];
  const id = ids[Math.floor(Math.random() * ids.length)];
  const q = stock.get(id);
  const next = q === 0 ? 10 + Math.floor(Math.random() * 20) : q - 1;
  stock.set(id, next);
  for (const w of watchers) if (w.ids.size === 0 || w.ids.has(id)) w.call.write({ id, quantity: next });
}, 2000);
drift.unref();

const server = new Server();
server.addService(Inventory.service, {
  GetStock(call, callback) {
    const r = items(call.request.ids);
    if (r.unknown)
      return callback({ code: status.NOT_FOUND, details: `unknown product ids: ${r.unknown.join(', ')}` });
    callback(null, { items: r.items, instance });
  },
  WatchStock(call) {
    const r = items(call.request.ids);
    if (r.unknown)
      return call.destroy({
        code: status.NOT_FOUND,
        details: `unknown product ids: ${r.unknown.join(', ')}`,
      });
    for (const item of r.items) call.write(item);
    const w = { call, ids: new Set(call.request.ids) };
    watchers.add(w);
    const done = () => watchers.delete(w);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  },
});

const bound = await new Promise((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
    err ? reject(err) : resolve(p),
  ),
);
log(APP, 'started', { listen: `127.0.0.1:${bound}`, protocol: 'grpc (h2c)', products: stock.size });

onShutdown(APP, async () => {
  clearInterval(drift);
  for (const w of watchers) w.call.end();
  watchers.clear();
  await new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 3000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
});
