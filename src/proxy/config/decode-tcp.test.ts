// Listener decoding for opaque TCP: tcp_proxy-only listeners, detection (HTTP chain matching
// application_protocols + tcp_proxy default chain), the golden's listeners, and what is rejected.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeResource, encodeResource } from '../../xds/any.js';
import { LISTENER_TYPE } from '../../xds/type-urls.js';
import { decodeListenerResource } from './decode.js';
import { HCM_TYPE, HTTP_INSPECTOR_TYPE } from './decode-listener.js';
import { TCP_PROXY_TYPE } from './decode-tcp-proxy.js';
import type { ListenerConfig } from './types.js';

type Obj = Record<string, unknown>;
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const golden = JSON.parse(
  readFileSync(join(root, 'test/fixtures/translate/tcp-upstreams-sidecar.golden.json'), 'utf8'),
) as { LDS: Record<string, Obj> };
const sidecarGolden = JSON.parse(
  readFileSync(join(root, 'test/fixtures/translate/sidecar.golden.json'), 'utf8'),
) as { LDS: Record<string, Obj> };

const wire = (r: Obj): Obj => decodeResource(encodeResource(r));
function decode(r: Obj): ListenerConfig {
  const res = decodeListenerResource(wire(r));
  assert.ok(res.ok, res.ok ? '' : res.error.message);
  return res.value;
}
function rejects(r: Obj, message: RegExp): void {
  const res = decodeListenerResource(wire(r));
  assert.ok(!res.ok, 'expected a NACK');
  assert.match(res.error.message, message);
}

const tcp = (extra: Obj = {}): Obj => ({
  name: 'envoy.filters.network.tcp_proxy',
  typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 't', cluster: 'outbound|5432||db.data', ...extra },
});
const hcm = (): Obj => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': HCM_TYPE,
    stat_prefix: 'h',
    route_config: { name: 'r', virtual_hosts: [] },
    http_filters: [],
  },
});
const listener = (extra: Obj): Obj => ({
  '@type': LISTENER_TYPE,
  name: 'l',
  address: { socket_address: { address: '127.0.0.1', port_value: 15432 } },
  ...extra,
});

describe('tcp_proxy and detection listeners', () => {
  it("decodes the golden's tcp inbound, tcp upstream and http upstream listeners", () => {
    const inbound = decode(golden.LDS['trellis_inbound'] as Obj);
    assert.equal(inbound.mode, 'tcp');
    assert.deepEqual(inbound.tcpProxy, {
      statPrefix: 'trellis_inbound',
      cluster: 'inbound|3306',
      idleTimeoutMs: 3_600_000,
    });
    const db = decode(golden.LDS['trellis_upstream_db.data_5432'] as Obj);
    assert.equal(db.mode, 'tcp');
    assert.equal(db.direction, 'outbound');
    assert.equal(db.tcpProxy?.cluster, 'outbound|5432||db.data');
    const reviews = decode(golden.LDS['trellis_upstream_reviews.default_9080'] as Obj);
    assert.equal(reviews.mode, undefined);
    assert.equal(reviews.port, 15080);
    assert.equal(reviews.routeSource.type, 'inline');
  });

  it("decodes an HTTP app's inbound listener as detect (100 ms, tcp_proxy fallback to the app)", () => {
    const l = decode(sidecarGolden.LDS['trellis_inbound'] as Obj);
    assert.equal(l.mode, 'detect');
    assert.equal(l.detectTimeoutMs, 100);
    assert.equal(l.tcpProxy?.cluster, 'inbound|9080');
    assert.equal(l.routeSource.type, 'inline');
  });

  it('idle_timeout: explicit value, and zero disables it', () => {
    const one = decode(listener({ filter_chains: [{ filters: [tcp({ idle_timeout: { seconds: 5 } })] }] }));
    assert.equal(one.tcpProxy?.idleTimeoutMs, 5000);
    const off = decode(listener({ filter_chains: [{ filters: [tcp({ idle_timeout: { seconds: 0 } })] }] }));
    assert.equal(off.tcpProxy?.idleTimeoutMs, 0);
  });

  it('rejects what it does not implement, naming the field', () => {
    rejects(
      listener({
        filter_chains: [{ filters: [tcp({ max_connect_attempts: 3 })] }],
      }),
      /filter_chains\[0\]\.filters\[0\]\.typed_config\.max_connect_attempts: only 1/,
    );
    rejects(listener({ filter_chains: [{ filters: [tcp({ cluster: '' })] }] }), /cluster/);
    rejects(
      listener({ filter_chains: [{ filters: [tcp()] }, { filters: [tcp()] }] }),
      /one HTTP connection manager chain and\/or one tcp_proxy chain/,
    );
    rejects(
      listener({ filter_chains: [{ filter_chain_match: { destination_port: 80 }, filters: [hcm()] }] }),
      /filter_chain_match\.destination_port: not supported/,
    );
    rejects(
      listener({ filter_chains: [{ filters: [hcm()] }], default_filter_chain: { filters: [tcp()] } }),
      /HTTP chain must match application_protocols/,
    );
    rejects(
      listener({
        filter_chains: [{ filter_chain_match: { application_protocols: ['h2'] }, filters: [hcm()] }],
        default_filter_chain: { filters: [tcp()] },
      }),
      /application_protocols\[0\]: supported: http\/1.1, http\/1.0, h2c/,
    );
    rejects(
      listener({
        listener_filters: [
          { name: 'x', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 'x', cluster: 'c' } },
        ],
        filter_chains: [{ filters: [tcp()] }],
      }),
      /listener_filters\[0\]: listener filter .* is not supported/,
    );
  });

  it('accepts the HTTP inspector with an HCM + tcp_proxy pair', () => {
    const l = decode(
      listener({
        listener_filters: [{ name: 'h', typed_config: { '@type': HTTP_INSPECTOR_TYPE } }],
        listener_filters_timeout: { seconds: 1 },
        continue_on_listener_filters_timeout: true,
        filter_chains: [{ filter_chain_match: { application_protocols: ['http/1.1'] }, filters: [hcm()] }],
        default_filter_chain: { filters: [tcp()] },
      }),
    );
    assert.equal(l.mode, 'detect');
    assert.equal(l.detectTimeoutMs, 1000);
  });
});
