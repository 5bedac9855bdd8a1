// Hand-written resources for the descriptor round-trip test: the Any-able types that the translate
// goldens do not exercise (filters, LB policies, TLS, aggregate clusters, TypedStruct, wrappers).
import type { JsonObject } from '../any.js';

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const policy = (name: string, typed_config: JsonObject): JsonObject => ({
  typed_extension_config: { name, typed_config },
});

const listener: JsonObject = {
  '@type': `${T}envoy.config.listener.v3.Listener`,
  name: 'filters',
  filter_chains: [
    {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
          require_client_certificate: true,
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'cert', sds_config: { ads: {} } }],
            combined_validation_context: {
              default_validation_context: {
                match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }],
              },
              validation_context_sds_secret_config: { name: 'ca', sds_config: { ads: {} } },
            },
            alpn_protocols: ['h2', 'http/1.1'],
          },
        },
      },
      filters: [
        {
          name: 'hcm',
          typed_config: {
            '@type': HCM,
            stat_prefix: 'x',
            common_http_protocol_options: { idle_timeout: '30s', max_headers_count: 100 },
            http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536 },
            route_config: { name: 'inline', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [] }] },
            http_filters: [
              {
                name: 'fault',
                typed_config: {
                  '@type': `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`,
                  delay: { fixed_delay: '0.25s', percentage: { numerator: 10, denominator: 'HUNDRED' } },
                  abort: { http_status: 503, percentage: { numerator: 5 } },
                },
              },
              {
                name: 'rbac',
                typed_config: {
                  '@type': `${T}envoy.extensions.filters.http.rbac.v3.RBAC`,
                  rules: {
                    action: 'DENY',
                    policies: {
                      p: {
                        permissions: [{ header: { name: ':path', string_match: { exact: '/admin' } } }],
                        principals: [
                          { authenticated: { principal_name: { suffix: '/sa/x' } } },
                          { any: true },
                        ],
                      },
                    },
                  },
                },
              },
              {
                name: 'ratelimit',
                typed_config: {
                  '@type': `${T}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`,
                  stat_prefix: 'rl',
                  token_bucket: { max_tokens: 10, tokens_per_fill: 5, fill_interval: '1s' },
                  filter_enabled: { default_value: { numerator: 100 }, runtime_key: 'k' },
                },
              },
              { name: 'cors', typed_config: { '@type': `${T}envoy.extensions.filters.http.cors.v3.Cors` } },
              {
                name: 'typed-struct',
                typed_config: {
                  '@type': `${T}xds.type.v3.TypedStruct`,
                  type_url: 'type.googleapis.com/some.Filter',
                  value: { a: 1, b: [true, null, 'x'], c: { d: 2.5 } },
                },
              },
              {
                name: 'udpa-typed-struct',
                typed_config: { '@type': `${T}udpa.type.v1.TypedStruct`, type_url: 'x', value: { k: 'v' } },
              },
              {
                name: 'router',
                typed_config: {
                  '@type': `${T}envoy.extensions.filters.http.router.v3.Router`,
                  suppress_envoy_headers: true,
                  start_child_span: false,
                },
              },
            ],
          },
        },
      ],
    },
  ],
};

const routes: JsonObject = {
  '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
  name: 'r',
  virtual_hosts: [
    {
      name: 'v',
      domains: ['a', 'a:80'],
      typed_per_filter_config: {
        cors: {
          '@type': `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
          allow_origin_string_match: [{ exact: 'https://x' }],
          allow_methods: 'GET',
          allow_credentials: true,
        },
        rbac: { '@type': `${T}envoy.extensions.filters.http.rbac.v3.RBACPerRoute` },
      },
      routes: [
        {
          match: { safe_regex: { regex: '/a/.*' }, headers: [{ name: 'x', present_match: true }] },
          route: {
            weighted_clusters: {
              clusters: [
                { name: 'a', weight: 90 },
                { name: 'b', weight: 10 },
              ],
            },
            hash_policy: [{ header: { header_name: 'user' } }],
            timeout: '1.5s',
            retry_policy: { retry_on: '5xx', num_retries: 2 },
          },
        },
      ],
    },
  ],
};

const clusters: JsonObject[] = [
  {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    name: 'agg',
    cluster_type: {
      name: 'envoy.clusters.aggregate',
      typed_config: {
        '@type': `${T}envoy.extensions.clusters.aggregate.v3.ClusterConfig`,
        clusters: ['a', 'b'],
      },
    },
    lb_policy: 'CLUSTER_PROVIDED',
  },
  {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    name: 'lb',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: '5s',
    circuit_breakers: { thresholds: [{ max_connections: 1024, max_requests: 4096 }] },
    outlier_detection: { consecutive_5xx: 5, base_ejection_time: '30s' },
    load_balancing_policy: {
      policies: [
        policy('ring', {
          '@type': `${T}envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash`,
          minimum_ring_size: 1024,
          hash_function: 'XX_HASH',
        }),
        policy('lr', {
          '@type': `${T}envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest`,
          choice_count: 2,
        }),
        policy('wrr', {
          '@type': `${T}envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality`,
          endpoint_picking_policy: {
            policies: [
              policy('rr', {
                '@type': `${T}envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin`,
              }),
            ],
          },
        }),
        policy('pf', {
          '@type': `${T}envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst`,
          shuffle_address_list: true,
        }),
      ],
    },
    transport_socket: {
      name: 'tls',
      typed_config: {
        '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
        sni: 'b.default',
        common_tls_context: { tls_params: { tls_minimum_protocol_version: 'TLSv1_2' } },
      },
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
        common_http_protocol_options: { idle_timeout: '60s' },
      },
    },
    metadata: { filter_metadata: { trellis: { service: 'b', ports: [80, 443], tls: false } } },
  },
];

const secret: JsonObject = {
  '@type': `${T}envoy.extensions.transport_sockets.tls.v3.Secret`,
  name: 'cert',
  tls_certificate: {
    certificate_chain: { inline_string: '-----BEGIN CERTIFICATE-----' },
    private_key: { inline_bytes: 'AAEC' },
  },
};

const endpoints: JsonObject = {
  '@type': `${T}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  cluster_name: 'b',
  endpoints: [
    {
      locality: { region: 'r', zone: 'z' },
      load_balancing_weight: 3,
      priority: 1,
      lb_endpoints: [
        {
          endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } },
          health_status: 'HEALTHY',
          load_balancing_weight: 2,
          metadata: { filter_metadata: { envoy_lb: { version: 'v2' } } },
        },
      ],
    },
  ],
  policy: { overprovisioning_factor: 140 },
};

export const EXTRA_RESOURCES: readonly { name: string; json: JsonObject }[] = [
  listener,
  routes,
  ...clusters,
  secret,
  endpoints,
].map((json, i) => ({ name: `sample#${i} ${json['@type'] as string}`, json }));
