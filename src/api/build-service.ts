// Builds the defaulted ServiceResource from a schema-valid Service document.
import type { MetadataSpec } from './schema-common.js';
import type { ServiceDocSpec } from './schema-service.js';
import type { ObjectMeta, ServiceResource } from './types.js';
import { TRELLIS_API_VERSION } from './types.js';

export function buildMetadata(m: MetadataSpec): ObjectMeta {
  return {
    name: m.name,
    namespace: m.namespace ?? 'default',
    labels: { ...m.labels },
    annotations: { ...m.annotations },
  };
}

export function buildService(doc: ServiceDocSpec): ServiceResource {
  const { ports, endpoints = [], subsets = [] } = doc.spec;
  return {
    apiVersion: TRELLIS_API_VERSION,
    kind: 'Service',
    metadata: buildMetadata(doc.metadata),
    spec: {
      ports: ports.map((p) => ({
        name: p.name ?? (ports.length === 1 ? (p.protocol ?? 'http') : ''),
        port: p.port,
        protocol: p.protocol ?? 'http',
        targetPort: p.targetPort ?? p.port,
      })),
      endpoints: endpoints.map((e) => ({
        address: e.address,
        ...(e.port !== undefined && { port: e.port }),
        ports: { ...e.ports },
        labels: { ...e.labels },
        weight: e.weight ?? 1,
        ...(e.mtls === true && { mtls: true }),
      })),
      subsets: subsets.map((s) => ({ name: s.name, labels: { ...s.labels } })),
    },
  };
}
