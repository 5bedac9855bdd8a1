// The status view of `trellis up` as pure text: a table of replicas and gateways, and the recent
// events under it. The console view redraws it in place on a terminal.

export type Phase =
  'pending' | 'starting' | 'ready' | 'not ready' | 'crashed' | 'stopping' | 'stopped' | 'blocked';

export interface ReplicaStatus {
  /** `catalog-1`. */
  readonly id: string;
  readonly workload: string;
  readonly namespace: string;
  readonly index: number;
  readonly phase: Phase;
  readonly restarts: number;
  readonly appPid?: number;
  readonly sidecarPid?: number;
  readonly appPort?: number;
  readonly inboundPort?: number;
  readonly outboundPort?: number;
  readonly adminPort?: number;
  /** Why it is not ready / when it restarts. */
  readonly detail?: string;
}

export interface GatewayStatus {
  readonly name: string;
  readonly namespace: string;
  readonly phase: Phase;
  readonly restarts: number;
  readonly pid?: number;
  readonly urls: readonly string[];
  readonly detail?: string;
}

export interface StatusModel {
  readonly apiUrl: string;
  readonly xds: string;
  readonly dataDir: string;
  readonly replicas: readonly ReplicaStatus[];
  readonly gateways: readonly GatewayStatus[];
  /** Most recent last. */
  readonly events: readonly string[];
  readonly stopping?: boolean;
}

/** Columns padded to their widest cell, two spaces apart; trailing spaces trimmed. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

const clip = (s: string, width: number): string => (s.length <= width ? s : `${s.slice(0, width - 1)}…`);

/** Lines of the status view; each at most `width` characters. */
export function renderStatus(m: StatusModel, width = 120, maxEvents = 8): string[] {
  const ready = m.replicas.filter((r) => r.phase === 'ready').length;
  const lines: string[] = [
    `trellis up — control plane ${m.apiUrl} (xDS ${m.xds}) — ${ready}/${m.replicas.length} replicas ready${m.stopping ? ' — shutting down' : ''}`,
    `data and logs: ${m.dataDir}   (trellis logs WORKLOAD -f, trellis scale WORKLOAD --replicas N, Ctrl-C stops)`,
    '',
  ];
  const rows: string[][] = [
    ['REPLICA', 'STATUS', 'RESTARTS', 'PID', 'APP', 'SIDECAR in/out/admin', 'DETAIL'],
  ];
  for (const r of m.replicas)
    rows.push([
      r.id,
      r.phase,
      String(r.restarts),
      r.appPid === undefined ? '-' : String(r.appPid),
      r.appPort === undefined ? '-' : `:${r.appPort}`,
      r.inboundPort === undefined ? '-' : `:${r.inboundPort}/:${r.outboundPort}/:${r.adminPort}`,
      r.detail ?? '',
    ]);
  if (m.replicas.length === 0) rows.push(['(no workloads)', '', '', '', '', '', '']);
  lines.push(...columns(rows));
  if (m.gateways.length > 0) {
    lines.push('');
    const g: string[][] = [['GATEWAY', 'STATUS', 'RESTARTS', 'PID', 'URLS', 'DETAIL']];
    for (const gw of m.gateways)
      g.push([
        gw.namespace === 'default' ? gw.name : `${gw.name}.${gw.namespace}`,
        gw.phase,
        String(gw.restarts),
        gw.pid === undefined ? '-' : String(gw.pid),
        gw.urls.join(' ') || '-',
        gw.detail ?? '',
      ]);
    lines.push(...columns(g));
  }
  if (m.events.length > 0) {
    lines.push('', 'recent events:');
    for (const e of m.events.slice(-maxEvents)) lines.push(`  ${e}`);
  }
  return lines.map((l) => clip(l, width));
}
