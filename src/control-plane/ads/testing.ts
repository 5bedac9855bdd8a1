// Test helpers for the ADS server: a fake snapshot + translate, sample resources, and a raw ADS
// client stream that queues responses so tests can await them one by one.
import type { MeshSnapshot } from '../../api/mesh-snapshot.js';
import { type AdsClient, type AdsClientStream, createAdsClient } from '../../xds/ads-service.js';
import type { DiscoveryRequest, DiscoveryResponse, XdsNode } from '../../xds/discovery-codec.js';
import { decodeResource } from '../../xds/any.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls.js';
import type { TranslateFn } from '../snapshot/resource-cache.js';

type Json = Readonly<Record<string, unknown>>;

/** A fake MeshSnapshot carrying resources directly: typeUrl -> name -> JSON. */
export interface FakeSnapshot extends MeshSnapshot {
  readonly fake: Readonly<Record<string, Readonly<Record<string, Json>>>>;
}

export function fakeSnapshot(
  version: number,
  fake: FakeSnapshot['fake'],
  endpointsVersion = version,
): MeshSnapshot {
  const s = {
    configVersion: version,
    endpointsVersion,
    services: new Map(),
    httpRoutes: [],
    grpcRoutes: [],
    gateways: new Map(),
    instances: new Map(),
    fake,
  } satisfies FakeSnapshot;
  return s;
}

/** translate over a FakeSnapshot; records every call. */
export function fakeTranslate(
  calls: { typeUrl: string; names: readonly string[] | '*' }[] = [],
): TranslateFn {
  return (snapshot, _node, typeUrl, names) => {
    calls.push({ typeUrl, names });
    const all = (snapshot as FakeSnapshot).fake[typeUrl] ?? {};
    const out = new Map<string, Json>();
    for (const n of names === '*' ? Object.keys(all) : names) {
      const r = all[n];
      if (r) out.set(n, r);
    }
    return out;
  };
}

export const cluster = (name: string, timeoutS = 1): Json => ({
  '@type': CLUSTER_TYPE,
  name,
  type: 'EDS',
  connect_timeout: { seconds: timeoutS },
  eds_cluster_config: { eds_config: { ads: {} } },
});

export const cla = (name: string, port: number): Json => ({
  '@type': ENDPOINT_TYPE,
  cluster_name: name,
  endpoints: [
    {
      locality: {},
      load_balancing_weight: { value: 1 },
      lb_endpoints: [
        { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } },
      ],
    },
  ],
});

export const listener = (name: string, routeConfig: string): Json => ({
  '@type': LISTENER_TYPE,
  name,
  api_listener: {
    api_listener: {
      '@type':
        'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      rds: { route_config_name: routeConfig, config_source: { ads: {} } },
      http_filters: [
        {
          name: 'envoy.filters.http.router',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
        },
      ],
    },
  },
});

export const routeConfig = (name: string, domain: string, clusterName: string): Json => ({
  '@type': ROUTE_TYPE,
  name,
  virtual_hosts: [
    { name: domain, domains: [domain], routes: [{ match: { prefix: '' }, route: { cluster: clusterName } }] },
  ],
});

/** A raw ADS stream: write requests, await responses in order. */
export class RawAdsClient {
  readonly client: AdsClient;
  readonly stream: AdsClientStream;
  private readonly queue: DiscoveryResponse[] = [];
  private waiters: ((r: DiscoveryResponse) => void)[] = [];
  ended = false;

  constructor(port: number) {
    this.client = createAdsClient(`127.0.0.1:${port}`);
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('data', (r: DiscoveryResponse) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.stream.on('error', () => {
      this.ended = true;
    });
    this.stream.on('end', () => {
      this.ended = true;
    });
  }

  send(req: Partial<DiscoveryRequest> & { node?: XdsNode }): void {
    this.stream.write({ version_info: '', response_nonce: '', resource_names: [], ...req });
  }

  /** The next response (rejects after `ms`). */
  next(ms = 2000): Promise<DiscoveryResponse> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no response within ${ms} ms`));
      }, ms);
      const waiter = (x: DiscoveryResponse): void => {
        clearTimeout(t);
        resolve(x);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves true if no response arrives within `ms`. */
  async quiet(ms = 150): Promise<boolean> {
    if (this.queue.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  /** ACKs a response (same names). */
  ack(r: DiscoveryResponse, names: readonly string[]): void {
    this.send({
      type_url: r.type_url,
      version_info: r.version_info,
      response_nonce: r.nonce,
      resource_names: [...names],
    });
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

/** Names of the resources in a response (decoding each). */
export function namesIn(r: DiscoveryResponse): string[] {
  return r.resources
    .map((a) => {
      const j = decodeResource(a);
      return String(j['name'] ?? j['cluster_name'] ?? '');
    })
    .sort();
}
