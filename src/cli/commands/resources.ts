// `trellis apply`, `get`, `delete`, `validate`: resource commands over the HTTP API (validate is offline).
import { analyze } from '../../api/analyze.js';
import { requireKind } from '../../api/kinds.js';
import { resourceToDocument } from '../../api/parse.js';
import type { ConfigIssue } from '../../api/types.js';
import { TrellisError } from '../../common/errors.js';
import { ApiClient } from '../client.js';
import { readResources } from '../files.js';
import { printIssues, printStructured, table } from '../output.js';

export async function applyCommand(
  files: readonly string[],
  server: string,
  dryRun: boolean,
): Promise<number> {
  if (files.length === 0)
    throw new TrellisError('BAD_REQUEST', 'apply needs -f FILE|DIR (or -f - for stdin)');
  const { resources, issues } = await readResources(files);
  if (issues.length > 0) {
    printIssues(issues);
    process.stderr.write(`${issues.length} problem(s); nothing was applied\n`);
    return 1;
  }
  const client = new ApiClient(server);
  try {
    const out = await client.call<{
      applied?: { kind: string; namespace: string; name: string; action: string }[];
      warnings?: ConfigIssue[];
    }>('POST', `/api/v1/apply${dryRun ? '?dryRun=true' : ''}`, {
      documents: resources.map(resourceToDocument),
    });
    if (dryRun) {
      process.stdout.write(`${resources.length} resource(s) valid (dry run, nothing applied)\n`);
      return 0;
    }
    for (const a of out.applied ?? [])
      process.stdout.write(`${a.kind.toLowerCase()}/${a.name} (${a.namespace}) ${a.action}\n`);
    printIssues(out.warnings ?? []);
    return 0;
  } catch (e) {
    const issues = (e as TrellisError).details as { issues?: ConfigIssue[] } | undefined;
    if (e instanceof TrellisError && issues?.issues) {
      printIssues(issues.issues);
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

export async function validateCommand(files: readonly string[], json: boolean): Promise<number> {
  if (files.length === 0)
    throw new TrellisError('BAD_REQUEST', 'validate needs -f FILE|DIR (or -f - for stdin)');
  const { resources, issues } = await readResources(files);
  const all = [...issues, ...(issues.length === 0 ? analyze(resources) : [])];
  const errors = all.filter((i) => i.severity === 'error');
  if (json) {
    printStructured({ valid: errors.length === 0, resources: resources.length, issues: all }, 'json');
  } else {
    printIssues(all, (s) => process.stdout.write(s));
    process.stdout.write(
      errors.length === 0
        ? `${resources.length} resource(s) valid${all.length ? ` (${all.length} warning(s))` : ''}\n`
        : `${errors.length} error(s) in ${files.join(', ')}\n`,
    );
  }
  return errors.length === 0 ? 0 : 1;
}

function kindArg(raw: string | undefined): string {
  if (!raw)
    throw new TrellisError(
      'BAD_REQUEST',
      'name a kind: trellis get services|httproutes|grpcroutes|gateways [NAME]',
    );
  return requireKind(raw);
}

type Doc = { kind: string; metadata: { name: string; namespace: string }; spec: Record<string, unknown> };

function summary(d: Doc): string {
  if (d.kind === 'Secret') {
    // API reads show a Secret's certificate facts only (never its key).
    const c = (d as unknown as { certificate?: { subject?: string; sans?: string[]; notAfter?: string } })
      .certificate;
    return `type=${String((d as unknown as { type?: string }).type)} subject=${c?.subject ?? '?'} sans=${(c?.sans ?? []).join(',')} notAfter=${c?.notAfter ?? '?'}`;
  }
  const spec = d.spec as {
    ports?: { name: string; port: number; protocol: string }[];
    endpoints?: unknown[];
    parentRefs?: { name: string; port?: number }[];
    rules?: unknown[];
  };
  if (d.kind === 'Service') {
    const ports = (spec.ports ?? []).map((p) => `${p.port}/${p.protocol}`).join(',');
    return `ports=${ports} endpoints=${(spec.endpoints ?? []).length}`;
  }
  if (d.kind === 'Gateway') {
    const gw = d.spec as {
      listeners?: { name: string; port: number; hostname?: string }[];
      addresses?: { value: string }[];
    };
    const ls = (gw.listeners ?? []).map((l) => `${l.name}:${l.port}${l.hostname ? `(${l.hostname})` : ''}`);
    const addrs = (gw.addresses ?? []).map((a) => a.value);
    return `listeners=${ls.join(',')} addresses=${addrs.join(',')}`;
  }
  if (d.kind === 'Workload') {
    const w = d.spec as { service?: string; replicas?: number; labels?: Record<string, string> };
    const labels = Object.entries(w.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    return `service=${w.service} replicas=${w.replicas}${labels.length ? ` labels=${labels.join(',')}` : ''}`;
  }
  if (d.kind === 'AuthorizationPolicy' || d.kind === 'RequestAuthentication') {
    const sp = d.spec as {
      targetRefs?: { kind: string; name: string; sectionName?: string }[];
      action?: string;
      jwtRules?: { issuer: string }[];
    };
    const targets = (sp.targetRefs ?? []).map(
      (t) => `${t.kind}/${t.name}${t.sectionName ? `:${t.sectionName}` : ''}`,
    );
    return d.kind === 'AuthorizationPolicy'
      ? `action=${sp.action ?? 'ALLOW'} targets=${targets.join(',')} rules=${(spec.rules ?? []).length}`
      : `targets=${targets.join(',')} issuers=${(sp.jwtRules ?? []).map((j) => j.issuer).join(',')}`;
  }
  const parents = (spec.parentRefs ?? []).map((p) => p.name + (p.port ? `:${p.port}` : '')).join(',');
  return `parents=${parents} rules=${(spec.rules ?? []).length}`;
}

export async function getCommand(
  kindRaw: string | undefined,
  name: string | undefined,
  namespace: string | undefined,
  output: string | undefined,
  server: string,
): Promise<number> {
  if (kindRaw && ['endpoints', 'endpoint', 'ep', 'instances'].includes(kindRaw.toLowerCase()))
    return getEndpoints(name, namespace, output, server);
  const kind = kindArg(kindRaw);
  const client = new ApiClient(server);
  if (name) {
    const doc = await client.call<Doc>(
      'GET',
      `/api/v1/resources/${kind}/${encodeURIComponent(namespace ?? 'default')}/${encodeURIComponent(name)}`,
    );
    printStructured(doc, output === 'json' ? 'json' : 'yaml');
    return 0;
  }
  const q = new URLSearchParams({ kind, ...(namespace ? { namespace } : {}) });
  const { items } = await client.call<{ items: Doc[] }>('GET', `/api/v1/resources?${q}`);
  if (output === 'json' || output === 'yaml') {
    printStructured({ items }, output);
    return 0;
  }
  if (items.length === 0) {
    process.stdout.write(`No ${kind} resources${namespace ? ` in namespace ${namespace}` : ''}.\n`);
    return 0;
  }
  process.stdout.write(
    table(
      ['NAMESPACE', 'NAME', 'SUMMARY'],
      items.map((d) => [d.metadata.namespace, d.metadata.name, summary(d)]),
    ) + '\n',
  );
  return 0;
}

export async function deleteCommand(
  kindRaw: string | undefined,
  names: readonly string[],
  files: readonly string[],
  namespace: string | undefined,
  server: string,
): Promise<number> {
  const client = new ApiClient(server);
  const keys: { kind: string; namespace: string; name: string }[] = [];
  if (files.length > 0) {
    const { resources, issues } = await readResources(files);
    if (issues.length > 0) {
      printIssues(issues);
      return 1;
    }
    for (const r of resources)
      keys.push({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name });
  } else {
    const kind = kindArg(kindRaw);
    if (names.length === 0) throw new TrellisError('BAD_REQUEST', 'delete needs a NAME (or -f FILE)');
    for (const n of names) keys.push({ kind, namespace: namespace ?? 'default', name: n });
  }
  let failed = 0;
  for (const k of keys) {
    try {
      const out = await client.call<{ warnings?: ConfigIssue[] }>(
        'DELETE',
        `/api/v1/resources/${k.kind}/${encodeURIComponent(k.namespace)}/${encodeURIComponent(k.name)}`,
      );
      process.stdout.write(`${k.kind.toLowerCase()}/${k.name} (${k.namespace}) deleted\n`);
      printIssues(out.warnings ?? []);
    } catch (e) {
      if (!(e instanceof TrellisError) || e.code !== 'NOT_FOUND') throw e;
      process.stderr.write(`error: ${e.message}\n`);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

interface EndpointRow {
  service: string;
  namespace: string;
  source: string;
  address: string;
  port: number | null;
  labels: Record<string, string>;
  weight: number;
}

/** `trellis get endpoints [SERVICE]`: static and registered instances, per Service. */
async function getEndpoints(
  service: string | undefined,
  namespace: string | undefined,
  output: string | undefined,
  server: string,
): Promise<number> {
  const q = new URLSearchParams({ ...(service ? { service } : {}), ...(namespace ? { namespace } : {}) });
  const { items } = await new ApiClient(server).call<{ items: EndpointRow[] }>(
    'GET',
    `/api/v1/endpoints?${q}`,
  );
  if (output === 'json' || output === 'yaml') {
    printStructured({ items }, output);
    return 0;
  }
  if (items.length === 0) {
    process.stdout.write(`No endpoints${service ? ` for ${service}` : ''}.\n`);
    return 0;
  }
  process.stdout.write(
    table(
      ['NAMESPACE', 'SERVICE', 'ADDRESS', 'SOURCE', 'LABELS', 'WEIGHT'],
      items.map((e) => [
        e.namespace,
        e.service,
        e.port === null ? e.address : `${e.address}:${e.port}`,
        e.source,
        Object.entries(e.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-',
        String(e.weight),
      ]),
    ) + '\n',
  );
  return 0;
}
