// Cross-resource checks for Workloads (`trellis up`): the Service a Workload serves and the
// Services it calls exist, and no two Workloads (or a Workload and a Gateway listener) want the same fixed port.
import type { IssueCode, PathSegment } from './issues.js';
import { makeIssue } from './issues.js';
import { originOf } from './origin.js';
import { didYouMean } from './suggest.js';
import type { ConfigIssue, Resource, ServiceResource, WorkloadResource } from './types.js';
import { keyString, resourceKey } from './types.js';

function issueFor(r: Resource, code: IssueCode, path: readonly PathSegment[], message: string): ConfigIssue {
  return makeIssue({ ...originOf(r), resource: keyString(resourceKey(r)) }, code, path, message);
}

/** `name` or `name.namespace` -> [namespace, name]; the namespace defaults to `dflt`. */
export function splitServiceRef(ref: string, dflt: string): [string, string] {
  const dot = ref.indexOf('.');
  return dot < 0 ? [dflt, ref] : [ref.slice(dot + 1), ref.slice(0, dot)];
}

const portList = (s: ServiceResource): string => s.spec.ports.map((p) => `${p.port} (${p.name})`).join(', ');

/**
 * Issues (all errors) for every Workload in `resources` (first occurrence of each key only),
 * against the Services given by `namespace/name`.
 */
export function analyzeWorkloads(
  resources: Iterable<Resource>,
  services: ReadonlyMap<string, ServiceResource>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const namesIn = (ns: string) =>
    [...services.values()].filter((s) => s.metadata.namespace === ns).map((s) => s.metadata.name);
  const fixedPorts = new Map<number, string>();
  const all = [...resources];
  for (const r of all)
    if (r.kind === 'Gateway')
      for (const l of r.spec.listeners)
        if (!fixedPorts.has(l.port))
          fixedPorts.set(l.port, `listener ${l.name} of ${keyString(resourceKey(r))}`);

  for (const r of all) {
    if (r.kind !== 'Workload') continue;
    const w: WorkloadResource = r;
    const ns = w.metadata.namespace;
    if (!services.has(`${ns}/${w.spec.service}`))
      out.push(
        issueFor(
          w,
          'dangling_reference',
          ['spec', 'service'],
          `Service ${ns}/${w.spec.service} does not exist${didYouMean(w.spec.service, namesIn(ns))}; a Workload's replicas are instances of a Service in its namespace: define the Service in the same mesh file or apply it first`,
        ),
      );
    w.spec.upstreams.forEach((u, i) => {
      const [uns, name] = splitServiceRef(u.service, ns);
      const svc = services.get(`${uns}/${name}`);
      if (!svc) {
        out.push(
          issueFor(
            w,
            'dangling_reference',
            ['spec', 'upstreams', i, 'service'],
            `upstream Service ${uns}/${name} does not exist${didYouMean(name, namesIn(uns))}; define it, or write name.namespace for a Service in another namespace`,
          ),
        );
        return;
      }
      if (u.port !== undefined && !svc.spec.ports.some((p) => p.port === u.port))
        out.push(
          issueFor(
            w,
            'dangling_reference',
            ['spec', 'upstreams', i, 'port'],
            `Service ${uns}/${name} has no port ${u.port}; its ports: ${portList(svc)}`,
          ),
        );
    });
    if (w.spec.port !== undefined && w.spec.replicas > 0) {
      const first = fixedPorts.get(w.spec.port);
      const id = keyString(resourceKey(w));
      if (first !== undefined)
        out.push(
          issueFor(
            w,
            'conflict',
            ['spec', 'port'],
            `port ${w.spec.port} is also used by ${first}; omit port (one is allocated and passed as $PORT) or pick another`,
          ),
        );
      else fixedPorts.set(w.spec.port, id);
    }
  }
  return out;
}
