// Registry behaviour with a FakeClock: registration, heartbeats, expiry, updates, bad input.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { FakeClock } from '../../common/clock.js';
import { TrellisError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { Registry, type RegistryChange } from './registry.js';

const base = { service: 'web', namespace: 'shop', address: '10.0.0.7', port: 15006 };

describe('Registry', () => {
  let clock: FakeClock;
  let reg: Registry;
  let changes: RegistryChange[];
  let n: number;

  beforeEach(() => {
    clock = new FakeClock();
    n = 0;
    reg = new Registry({ clock, logger: silentLogger(), newId: () => `gen-${++n}` });
    changes = [];
    reg.onChange((c) => changes.push(c));
  });

  it('registers an instance with defaults and a generated id', () => {
    const inst = reg.register(base);
    assert.deepEqual(inst, {
      id: 'gen-1',
      service: 'web',
      namespace: 'shop',
      address: '10.0.0.7',
      port: 15006,
      ports: {},
      labels: {},
      weight: 1,
      sidecar: false,
    });
    assert.ok(Object.isFrozen(inst));
    assert.deepEqual(reg.list(), [inst]);
    assert.equal(reg.get('gen-1'), inst);
    assert.equal(reg.version(), 1);
    assert.deepEqual(
      changes.map((c) => [c.type, c.instance.id, c.version]),
      [['registered', 'gen-1', 1]],
    );
    assert.equal(reg.register({ ...base, service: 'api' }).id, 'gen-2');
    assert.equal(reg.register({ service: 'x', address: '::1', port: 1 }).namespace, 'default');
  });

  it('groups instances by namespace/name of their Service', () => {
    reg.register({ ...base, id: 'b' });
    reg.register({ ...base, id: 'a', address: '10.0.0.8', labels: { version: 'v2' }, weight: 3 });
    reg.register({ ...base, id: 'c', namespace: 'other' });
    const m = reg.byService();
    assert.deepEqual([...m.keys()].sort(), ['other/web', 'shop/web']);
    assert.deepEqual(
      m.get('shop/web')?.map((i) => i.id),
      ['a', 'b'],
    );
    assert.equal(reg.byService(), m, 'unchanged registry returns the same map');
    reg.heartbeat('a');
    assert.equal(reg.byService(), m, 'heartbeats do not change the endpoint set');
    reg.deregister('c');
    assert.notEqual(reg.byService(), m);
    assert.deepEqual([...reg.byService().keys()], ['shop/web']);
  });

  it('expires an instance after its TTL without heartbeats, and emits the change', () => {
    reg.register({ ...base, id: 'a' }); // default TTL 15 s
    reg.register({ ...base, id: 'b', ttlSeconds: 30 });
    clock.advance(14_999);
    assert.equal(reg.list().length, 2);
    clock.advance(1);
    assert.deepEqual(
      reg.list().map((i) => i.id),
      ['b'],
    );
    assert.deepEqual(changes.at(-1)?.type, 'expired');
    assert.deepEqual(changes.at(-1)?.instance.id, 'a');
    assert.equal(reg.byService().get('shop/web')?.length, 1);
    assert.equal(reg.heartbeat('a'), false, 'an expired instance must register again');
    clock.advance(15_000);
    assert.deepEqual(reg.list(), []);
    assert.equal(reg.version(), 4);
  });

  it('extends the lease on every heartbeat', () => {
    reg.register({ ...base, id: 'a', ttlSeconds: 10 });
    for (let i = 0; i < 5; i++) {
      clock.advance(9_000);
      assert.equal(reg.heartbeat('a'), true);
    }
    assert.equal(reg.list().length, 1);
    assert.equal(reg.version(), 1, 'heartbeats are not changes');
    assert.equal(clock.pending(), 1, 'one timer per instance, however many heartbeats');
    clock.advance(9_999);
    assert.equal(reg.list().length, 1);
    clock.advance(1);
    assert.equal(reg.list().length, 0);
    assert.equal(clock.pending(), 0);
  });

  it('returns false for a heartbeat of an unknown id', () => {
    assert.equal(reg.heartbeat('nope'), false);
    assert.deepEqual(changes, []);
  });

  it('deregisters', () => {
    reg.register({ ...base, id: 'a' });
    assert.equal(reg.deregister('a'), true);
    assert.equal(reg.deregister('a'), false);
    assert.deepEqual(reg.list(), []);
    assert.deepEqual(
      changes.map((c) => c.type),
      ['registered', 'deregistered'],
    );
    assert.equal(clock.pending(), 0);
  });

  it('updates an instance re-registered with the same id', () => {
    reg.register({ ...base, id: 'a', ttlSeconds: 5 });
    clock.advance(4_000);
    const again = reg.register({ ...base, id: 'a', ttlSeconds: 5 });
    assert.equal(reg.version(), 1, 'an identical re-registration only renews the lease');
    clock.advance(4_000);
    assert.deepEqual(reg.list(), [again]);
    const moved = reg.register({ ...base, id: 'a', port: 15007, labels: { v: '2' }, ttlSeconds: 2 });
    assert.equal(moved.port, 15007);
    assert.deepEqual(reg.list(), [moved]);
    assert.deepEqual(
      changes.map((c) => c.type),
      ['registered', 'updated'],
    );
    clock.advance(2_000); // the shorter TTL applies at once
    assert.deepEqual(reg.list(), []);
  });

  it('rejects bad input with BAD_REQUEST naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, address: 'web.local' }, 'address'],
      [{ ...base, address: '10.0.0.256' }, 'address'],
      [{ ...base, port: 0 }, 'port'],
      [{ ...base, port: 65536 }, 'port'],
      [{ ...base, port: '80' }, 'port'],
      [{ ...base, ports: { grpc: 70000 } }, 'ports.grpc'],
      [{ ...base, ttlSeconds: 0 }, 'ttlSeconds'],
      [{ ...base, ttlSeconds: 86_400 }, 'ttlSeconds'],
      [{ ...base, service: 'Web_1' }, 'service'],
      [{ ...base, service: undefined }, 'service'],
      [{ ...base, namespace: '' }, 'namespace'],
      [{ ...base, weight: 0 }, 'weight'],
      [{ ...base, labels: { v: 2 } }, 'labels.v'],
      [{ ...base, sidecar: 'yes' }, 'sidecar'],
      [{ ...base, id: '' }, 'id'],
      [{ ...base, colour: 'blue' }, 'colour'],
    ];
    for (const [input, field] of cases) {
      assert.throws(
        () => reg.register(input as never),
        (e: unknown) => {
          assert.ok(e instanceof TrellisError);
          assert.equal(e.code, 'BAD_REQUEST');
          assert.match(e.message, new RegExp(`${field.replace('.', '\\.')}: `), e.message);
          return true;
        },
        JSON.stringify(input),
      );
    }
    assert.throws(() => reg.register(null as never), /must be an object/);
    assert.deepEqual(reg.list(), []);
    assert.equal(reg.version(), 0);
  });

  it('accepts IPv6 addresses, named ports and boundary values', () => {
    const i = reg.register({
      ...base,
      address: 'fd00::7',
      port: 65535,
      ports: { grpc: 1 },
      weight: 1_000_000,
      ttlSeconds: 3600,
      sidecar: true,
    });
    assert.deepEqual(i.ports, { grpc: 1 });
    assert.equal(i.sidecar, true);
  });

  it('stops listening after unsubscribe and keeps going when a listener throws', () => {
    const local: string[] = [];
    const stop = reg.onChange((c) => local.push(c.type));
    reg.onChange(() => {
      throw new Error('boom');
    });
    reg.register({ ...base, id: 'a' });
    stop();
    reg.deregister('a');
    assert.deepEqual(local, ['registered']);
    assert.equal(changes.length, 2);
  });

  it('stops expiry timers on close', () => {
    reg.register({ ...base, id: 'a' });
    reg.close();
    assert.equal(clock.pending(), 0);
    clock.advance(60_000);
    assert.equal(reg.list().length, 1);
  });
});

describe('Registry: proxyless gRPC servers', () => {
  const reg = (): Registry =>
    new Registry({ clock: new FakeClock(), logger: silentLogger(), newId: () => 'id' });

  it('takes proxyless: true with mtls (a server that terminates mTLS itself)', () => {
    const inst = reg().register({ ...base, port: 50051, proxyless: true, mtls: true });
    assert.equal(inst.proxyless, true);
    assert.equal(inst.mtls, true);
    assert.equal(inst.sidecar, false);
  });

  it('refuses mtls without a sidecar or a proxyless server, and both at once, naming the field', () => {
    assert.throws(
      () => reg().register({ ...base, mtls: true }),
      (e: unknown) =>
        e instanceof TrellisError && /mtls: only a sidecar .* or a proxyless gRPC server/.test(e.message),
    );
    assert.throws(
      () => reg().register({ ...base, sidecar: true, proxyless: true }),
      (e: unknown) =>
        e instanceof TrellisError && /proxyless: an instance is served by a sidecar/.test(e.message),
    );
    assert.throws(
      () => reg().register({ ...base, proxyless: 'yes' } as never),
      (e: unknown) => e instanceof TrellisError && /proxyless: must be true or false/.test(e.message),
    );
  });
});
