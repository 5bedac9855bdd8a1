// Builders of validated config (with defaults filled in) for translate/'s unit tests.
import type { InstanceConfig, MeshSnapshot } from '../api/mesh-snapshot.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import type {
  BackendRefConfig,
  GatewayListenerConfig,
  GatewayResource,
  GRPCRouteResource,
  GRPCRouteRuleConfig,
  HTTPRouteMatchConfig,
  HTTPRouteResource,
  HTTPRouteRuleConfig,
  ParentRefConfig,
  ServicePortConfig,
  ServiceResource,
  ServiceSpecConfig,
} from '../api/types.js';
import type { NodeInfo } from './node.js';

const meta = (name: string, namespace = 'default') => ({ name, namespace, labels: {}, annotations: {} });

export function service(
  name: string,
  ports: readonly (Partial<ServicePortConfig> & { port: number })[],
  spec: Partial<Omit<ServiceSpecConfig, 'ports'>> = {},
  namespace = 'default',
): ServiceResource {
  return {
    apiVersion: 'trellis.dev/v1alpha1',
    kind: 'Service',
    metadata: meta(name, namespace),
    spec: {
      ports: ports.map((p) => ({
        name: p.name ?? (ports.length === 1 ? (p.protocol ?? 'http') : `p${p.port}`),
        protocol: p.protocol ?? 'http',
        targetPort: p.targetPort ?? p.port,
        port: p.port,
      })),
      endpoints: spec.endpoints ?? [],
      subsets: spec.subsets ?? [],
    },
  };
}

export const parent = (name: string, extra: Partial<ParentRefConfig> = {}): ParentRefConfig => ({
  group: '',
  kind: 'Service',
  name,
  namespace: 'default',
  ...extra,
});

export const backend = (name: string, extra: Partial<BackendRefConfig> = {}): BackendRefConfig => ({
  group: '',
  kind: 'Service',
  name,
  namespace: 'default',
  weight: 1,
  ...extra,
});

export const match = (extra: Partial<HTTPRouteMatchConfig> = {}): HTTPRouteMatchConfig => ({
  path: { type: 'PathPrefix', value: '/' },
  headers: [],
  queryParams: [],
  ...extra,
});

export const rule = (extra: Partial<HTTPRouteRuleConfig> = {}): HTTPRouteRuleConfig => ({
  matches: [match()],
  filters: [],
  backendRefs: [],
  timeouts: {},
  ...extra,
});

export function httpRoute(
  name: string,
  parentRefs: readonly ParentRefConfig[],
  rules: readonly HTTPRouteRuleConfig[],
  namespace = 'default',
): HTTPRouteResource {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(name, namespace),
    spec: { parentRefs, hostnames: [], rules },
  };
}

export const grpcRule = (extra: Partial<GRPCRouteRuleConfig> = {}): GRPCRouteRuleConfig => ({
  matches: [{ headers: [] }],
  filters: [],
  backendRefs: [],
  ...extra,
});

export function grpcRoute(
  name: string,
  parentRefs: readonly ParentRefConfig[],
  rules: readonly GRPCRouteRuleConfig[],
  namespace = 'default',
): GRPCRouteResource {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GRPCRoute',
    metadata: meta(name, namespace),
    spec: { parentRefs, hostnames: [], rules },
  };
}

export function snapshot(
  services: readonly ServiceResource[],
  httpRoutes: readonly HTTPRouteResource[] = [],
  grpcRoutes: readonly GRPCRouteResource[] = [],
  instances: readonly InstanceConfig[] = [],
): MeshSnapshot {
  const byService = new Map<string, InstanceConfig[]>();
  for (const i of instances) {
    const k = serviceKey(i.namespace, i.service);
    byService.set(k, [...(byService.get(k) ?? []), i]);
  }
  return {
    configVersion: 1,
    endpointsVersion: 1,
    services: new Map(services.map((s) => [serviceKey(s.metadata.namespace, s.metadata.name), s])),
    httpRoutes,
    grpcRoutes,
    gateways: new Map(),
    instances: byService,
  };
}

export const proxyless = (namespace = 'default'): NodeInfo => ({
  id: 'client',
  kind: 'proxyless',
  namespace,
  labels: {},
});

export const sidecarNode = (namespace = 'default', service?: string): NodeInfo => ({
  id: 'sidecar-1',
  kind: 'sidecar',
  namespace,
  labels: {},
  ...(service !== undefined ? { service } : {}),
  sidecar: { address: '127.0.0.1', inboundPort: 15006, outboundPort: 15001, appPort: 8080 },
});

export function gateway(
  name: string,
  listeners: readonly (Partial<GatewayListenerConfig> & { name: string; port: number })[],
  namespace = 'default',
  addresses: readonly string[] = ['127.0.0.1'],
): GatewayResource {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: meta(name, namespace),
    spec: {
      gatewayClassName: 'trellis',
      listeners: listeners.map((l) => ({ protocol: 'HTTP', allowedRoutesFrom: 'Same', ...l })),
      addresses,
    },
  };
}

export const gatewayParent = (name: string, extra: Partial<ParentRefConfig> = {}): ParentRefConfig => ({
  group: 'gateway.networking.k8s.io',
  kind: 'Gateway',
  name,
  namespace: 'default',
  ...extra,
});

export const gatewayNode = (name: string, namespace = 'default'): NodeInfo => ({
  id: 'gw-1',
  kind: 'gateway',
  namespace,
  labels: {},
  gateway: name,
});
