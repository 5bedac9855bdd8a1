// xDS client unit tests over a fake ADS stream and a FakeClock: node on the first request, partial
// NACK (valid resources applied, message names resource + field), derived subscriptions, backoff.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { FakeClock } from '../../common/clock.js';
import { silentLogger } from '../../common/logger.js';
import type { AdsClient, OutgoingRequest } from '../../xds/ads-service.js';
import { encodeResource } from '../../xds/any.js';
import type { DiscoveryResponse } from '../../xds/discovery-codec.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls.js';
import { createBackoff } from './backoff.js';
import { XdsClient } from './xds-client.js';

class FakeStream extends EventEmitter {
  readonly written: OutgoingRequest[] = [];
  cancelled = false;
  write(r: OutgoingRequest): boolean {
    this.written.push(r);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function listener(name: string, port: number, hcm: Record<string, unknown>): Record<string, unknown> {
  return {
    '@type': LISTENER_TYPE,
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      { filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: name, ...hcm } }] },
    ],
  };
}
const rds = (name: string) => ({ rds: { route_config_name: name, config_source: { ads: {} } } });
const inlineRoutes = (regex: string) => ({
  route_config: {
    name: 'in',
    virtual_hosts: [
      {
        name: 'in',
        domains: ['*'],
        routes: [{ match: { safe_regex: { regex } }, route: { cluster: 'inbound|1' } }],
      },
    ],
  },
});

function response(
  typeUrl: string,
  version: string,
  nonce: string,
  resources: Record<string, unknown>[],
): DiscoveryResponse {
  return {
    version_info: version,
    type_url: typeUrl,
    nonce,
    resources: resources.map((r) => encodeResource(r)),
  };
}

function setup() {
  const clock = new FakeClock();
  const streams: FakeStream[] = [];
  const client = new XdsClient({
    target: 'cp:1',
    node: {
      id: 'n1',
      service: 'web',
      inboundPort: 15006,
      outboundPort: 15001,
      appPort: 8080,
      labels: { v: '1' },
    },
    logger: silentLogger(),
    clock,
    random: () => 0.5,
    backoff: { initialMs: 400, maxMs: 1000 },
    createClient: () =>
      ({
        StreamAggregatedResources: () => {
          const s = new FakeStream();
          streams.push(s);
          return s;
        },
        close: () => undefined,
      }) as unknown as AdsClient,
  });
  client.start();
  const last = () => streams[streams.length - 1] as FakeStream;
  return { clock, streams, client, last };
}

describe('XdsClient', () => {
  it('sends the node once and subscribes LDS and CDS by wildcard', () => {
    const { last } = setup();
    const w = last().written;
    assert.deepEqual(
      w.map((r) => [r.type_url, r.resource_names]),
      [
        [CLUSTER_TYPE, ['*']],
        [LISTENER_TYPE, ['*']],
      ],
    );
    assert.equal(w[0]?.node?.id, 'n1');
    assert.equal(w[0]?.node?.cluster, 'web');
    assert.deepEqual(w[0]?.node?.metadata, {
      TRELLIS_KIND: 'sidecar',
      NAMESPACE: 'default',
      SERVICE: 'web',
      LABELS: { v: '1' },
      INSTANCE_IP: '127.0.0.1',
      INBOUND_PORT: '15006',
      OUTBOUND_PORT: '15001',
      APP_PORT: '8080',
    });
    assert.equal(w[1]?.node, undefined);
  });

  it('applies the valid part of a response and NACKs naming the bad resource and field', () => {
    const { client, last } = setup();
    const updates: unknown[] = [];
    client.onUpdate((c) => updates.push(c));
    last().emit(
      'data',
      response(LISTENER_TYPE, 'v1', 'n-1', [
        listener('trellis_outbound', 15001, rds('trellis_outbound')),
        listener('bad', 2, inlineRoutes('(?=x)')),
      ]),
    );
    const w = last().written;
    const nack = w.find((r) => r.type_url === LISTENER_TYPE && r.response_nonce === 'n-1');
    assert.ok(nack?.error_detail);
    assert.equal(nack.version_info, '');
    assert.match(
      nack.error_detail.message,
      /^Listener bad: filter_chains\[0\]\.filters\[0\]\.typed_config\.route_config\.virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: invalid regex/,
    );
    assert.ok(client.current().listeners.has('trellis_outbound'));
    assert.ok(!client.current().listeners.has('bad'));
    assert.equal(client.status().lastNack?.type, 'LDS');
    assert.equal(updates.length, 1);
    // The valid listener's route configuration is subscribed.
    assert.deepEqual(w.find((r) => r.type_url === ROUTE_TYPE)?.resource_names, ['trellis_outbound']);
    // A good response is ACKed with its version; the bad listener's absence deletes nothing.
    last().emit(
      'data',
      response(LISTENER_TYPE, 'v2', 'n-2', [listener('trellis_outbound', 15001, rds('trellis_outbound'))]),
    );
    const ack = w[w.length - 1];
    assert.equal(ack?.version_info, 'v2');
    assert.equal(ack?.error_detail, undefined);
  });

  it('subscribes EDS for EDS clusters and drops endpoints of removed clusters', () => {
    const { client, last } = setup();
    const eds = (name: string) => ({
      '@type': CLUSTER_TYPE,
      name,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {} } },
    });
    last().emit('data', response(CLUSTER_TYPE, 'c1', 'n1', [eds('a'), eds('b')]));
    assert.deepEqual(
      last()
        .written.filter((r) => r.type_url === ENDPOINT_TYPE)
        .at(-1)?.resource_names,
      ['a', 'b'],
    );
    const cla = {
      '@type': ENDPOINT_TYPE,
      cluster_name: 'a',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } },
          ],
        },
      ],
    };
    last().emit('data', response(ENDPOINT_TYPE, 'e1', 'n2', [cla]));
    assert.equal(client.current().endpoints.get('a')?.endpoints[0]?.id, '10.0.0.1:80');
    last().emit('data', response(CLUSTER_TYPE, 'c2', 'n3', [eds('b')]));
    assert.equal(client.current().endpoints.has('a'), false);
    assert.deepEqual(
      last()
        .written.filter((r) => r.type_url === ENDPOINT_TYPE)
        .at(-1)?.resource_names,
      ['b'],
    );
  });

  it('reconnects with growing backoff, resets it after a response, re-sends versions', () => {
    const { clock, streams, client, last } = setup();
    last().emit(
      'data',
      response(LISTENER_TYPE, 'v1', 'n-1', [listener('trellis_outbound', 15001, rds('trellis_outbound'))]),
    );
    const held = client.current();
    last().emit('error', new Error('UNAVAILABLE'));
    assert.equal(client.status().connected, false);
    assert.equal(client.status().reconnectInMs, 300); // reset after a response: 400/2 + 0.5*200
    clock.advance(299);
    assert.equal(streams.length, 1);
    clock.advance(1);
    assert.equal(streams.length, 2);
    const lds = last().written.find((r) => r.type_url === LISTENER_TYPE);
    assert.equal(lds?.version_info, 'v1');
    assert.equal(lds?.response_nonce, '');
    assert.ok(last().written[0]?.node);
    assert.deepEqual(last().written.find((r) => r.type_url === ROUTE_TYPE)?.resource_names, [
      'trellis_outbound',
    ]);
    last().emit('error', new Error('UNAVAILABLE'));
    assert.equal(client.status().reconnectInMs, 600); // no response on that stream: step doubled
    clock.advance(600);
    last().emit('end');
    assert.equal(client.status().reconnectInMs, 750); // capped at 1000
    assert.equal(client.current(), held);
    client.close();
    assert.equal(clock.pending(), 0);
  });

  it('backoff: equal jitter, doubling to the cap, reset', () => {
    const lo = createBackoff({ random: () => 0, initialMs: 500, maxMs: 30_000 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map(() => lo.next()),
      [250, 500, 1000, 2000, 4000, 8000, 15000, 15000],
    );
    const hi = createBackoff({ random: () => 0.999999, initialMs: 500, maxMs: 30_000 });
    const seq = [1, 2, 3, 4, 5, 6, 7, 8].map(() => hi.next());
    assert.deepEqual(seq, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    hi.reset();
    assert.equal(hi.next(), 500);
  });
});
