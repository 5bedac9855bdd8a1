// EDS: one ClusterLoadAssignment per outbound cluster: the Service's static endpoints plus its
// registered instances, filtered by the subset's labels, deduplicated by address:port.
import type { InstanceConfig } from '../api/mesh-snapshot.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { ENDPOINT_TYPE } from '../xds/type-urls.js';
import { parseOutboundClusterName } from './names.js';
import type { XdsResource } from './proto.js';
import { instanceServesMtls, MTLS_ENDPOINT_METADATA, serviceMtlsMode } from './mtls.js';
import { memoize, type SnapshotIndex } from './snapshot-index.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^(?=.*:)[0-9a-fA-F:.]{2,45}$/;

/** gRPC NACKs a whole CLA for one address that is not an IP literal; such endpoints are skipped. */
export const isIpLiteral = (a: string): boolean => IPV4.test(a) || (IPV6.test(a) && !a.includes(':::'));

const matchesLabels = (
  labels: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
): boolean => Object.entries(want).every(([k, v]) => labels[k] === v);

const byId = (a: InstanceConfig, b: InstanceConfig): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** EDS. Independent of the node: one object per cluster name per snapshot. */
export function clusterLoadAssignment(index: SnapshotIndex, name: string): XdsResource | undefined {
  return memoize(index.endpointMemo, name, () => {
    const ref = parseOutboundClusterName(name);
    if (ref === undefined) return undefined;
    const key = serviceKey(ref.namespace, ref.service);
    const svc = index.snapshot.services.get(key);
    const port = svc?.spec.ports.find((p) => p.port === ref.port);
    if (svc === undefined || port === undefined) return undefined;
    let want: Readonly<Record<string, string>> = {};
    if (ref.subset !== '') {
      const subset = svc.spec.subsets.find((s) => s.name === ref.subset);
      if (subset === undefined) return undefined;
      want = subset.labels;
    }
    const lbEndpoints: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    const add = (address: string, portValue: number, weight: number, mtls = false): void => {
      const id = `${address}|${portValue}`;
      // Weight 0 takes no traffic; duplicates would make gRPC NACK the whole assignment.
      if (weight <= 0 || seen.has(id) || !isIpLiteral(address)) return;
      seen.add(id);
      lbEndpoints.push({
        endpoint: { address: { socket_address: { address, port_value: portValue } } },
        health_status: 'HEALTHY',
        load_balancing_weight: weight,
        ...(mtls ? { metadata: MTLS_ENDPOINT_METADATA } : {}),
      });
    };
    for (const ep of svc.spec.endpoints)
      if (matchesLabels(ep.labels, want))
        add(ep.address, ep.ports[port.name] ?? ep.port ?? port.targetPort, ep.weight, ep.mtls === true);
    const mode = serviceMtlsMode(index.config, ref.namespace, ref.service);
    for (const inst of [...(index.snapshot.instances.get(key) ?? [])].sort(byId))
      if (matchesLabels(inst.labels, want))
        add(inst.address, inst.ports[port.name] ?? inst.port, inst.weight, instanceServesMtls(inst, mode));
    return {
      '@type': ENDPOINT_TYPE,
      cluster_name: name,
      // gRPC needs the locality set and weighted >= 1, else it drops the locality.
      endpoints:
        lbEndpoints.length === 0
          ? []
          : [{ locality: {}, load_balancing_weight: 1, lb_endpoints: lbEndpoints }],
    };
  });
}
