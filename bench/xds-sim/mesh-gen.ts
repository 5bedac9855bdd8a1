// Generates the benchmark's mesh (N gRPC Services, a weighted GRPCRoute/HTTPRoute on every 10th)
// and which Services each simulated proxy uses (one popular "hot" routed Service + a few random).

export const NAMESPACE = 'default';
export const GRPC_PORT = 50051;
/** Every ROUTE_EVERY-th Service gets a route with a weighted v1/v2 split (and two subsets). */
export const ROUTE_EVERY = 10;

export type Doc = Record<string, unknown>;

export const serviceName = (i: number): string => `svc-${String(i).padStart(4, '0')}`;
/** The xDS target a proxyless client dials (`xds:///svc-0001.default:50051`) = its Listener name. */
export const listenerName = (i: number): string => `${serviceName(i)}.${NAMESPACE}:${GRPC_PORT}`;
export const hasRoute = (i: number): boolean => i % ROUTE_EVERY === 0;

/** 127.0.0.1 only, with a distinct port per endpoint (nothing ever connects to them). */
const endpointPort = (i: number, j: number): number => 20000 + ((i * 3 + j) % 40000);

export function serviceDoc(i: number, endpointCount = 2 + (i % 2)): Doc {
  const routed = hasRoute(i);
  const endpoints = Array.from({ length: endpointCount }, (_, j) => ({
    address: '127.0.0.1',
    port: endpointPort(i, j),
    labels: { version: routed && j === endpointCount - 1 ? 'v2' : 'v1' },
  }));
  return {
    apiVersion: 'trellis.dev/v1alpha1',
    kind: 'Service',
    metadata: { name: serviceName(i), namespace: NAMESPACE },
    spec: {
      ports: [{ name: 'grpc', port: GRPC_PORT, protocol: 'grpc' }],
      endpoints,
      ...(routed
        ? {
            subsets: [
              { name: 'v1', labels: { version: 'v1' } },
              { name: 'v2', labels: { version: 'v2' } },
            ],
          }
        : {}),
    },
  };
}

/** A route on Service i: canary header to v2, else `weightV1`% v1 / rest v2. Alternates kinds. */
export function routeDoc(i: number, weightV1 = 90): Doc {
  const name = serviceName(i);
  const grpc = (i / ROUTE_EVERY) % 2 === 0;
  const backend = (subset: string, weight?: number) => ({
    name,
    port: GRPC_PORT,
    subset,
    ...(weight !== undefined ? { weight } : {}),
  });
  const canary = { headers: [{ name: 'x-canary', value: 'yes' }] };
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: grpc ? 'GRPCRoute' : 'HTTPRoute',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name, port: GRPC_PORT }],
      rules: [
        { matches: [canary], backendRefs: [backend('v2')] },
        { backendRefs: [backend('v1', weightV1), backend('v2', 100 - weightV1)] },
      ],
    },
  };
}

export function meshDocs(services: number): Doc[] {
  const docs: Doc[] = [];
  for (let i = 0; i < services; i++) {
    docs.push(serviceDoc(i));
    if (hasRoute(i)) docs.push(routeDoc(i));
  }
  return docs;
}

/** The popular routed Services (at most 10): each proxy uses exactly one of them. */
export function hotServices(services: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < services && out.length < 10; i += ROUTE_EVERY) out.push(i);
  return out;
}

/** Small deterministic PRNG (mulberry32) so runs are comparable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** For each proxy, the Service indexes it uses: one hot Service, then random distinct others. */
export function assignServices(proxies: number, services: number, perProxy = 5, seed = 42): number[][] {
  const rand = prng(seed);
  const hot = hotServices(services);
  const want = Math.min(perProxy, services);
  return Array.from({ length: proxies }, (_, p) => {
    const used = new Set<number>([hot[p % hot.length] ?? 0]);
    while (used.size < want) used.add(Math.floor(rand() * services));
    return [...used];
  });
}
