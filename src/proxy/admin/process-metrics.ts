// Prometheus text for the sidecar's own state: process RSS and CPU, xDS connection, config
// versions, NACKs, readiness and registration (the data plane renders its own request metrics).
import type { XdsClientStatus } from '../xds-client/index.js';

export interface ProxyStateForMetrics {
  readonly xds: XdsClientStatus;
  readonly ready: boolean;
  readonly registered: boolean;
  readonly startedAtMs: number;
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function metric(
  out: string[],
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  samples: [string, number][],
): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
}

export function renderProcessMetrics(s: ProxyStateForMetrics): string {
  const out: string[] = [];
  const cpu = process.cpuUsage();
  metric(out, 'process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [
    ['', process.memoryUsage.rss()],
  ]);
  metric(out, 'process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds.', [
    ['', (cpu.user + cpu.system) / 1e6],
  ]);
  metric(
    out,
    'process_start_time_seconds',
    'gauge',
    'Start time of the process since the epoch in seconds.',
    [['', Math.floor(s.startedAtMs / 1000)]],
  );
  metric(out, 'trellis_xds_connected', 'gauge', '1 while the ADS stream to the control plane is up.', [
    ['', s.xds.connected ? 1 : 0],
  ]);
  metric(out, 'trellis_xds_streams_total', 'counter', 'ADS streams opened.', [['', s.xds.streams]]);
  metric(out, 'trellis_xds_nacks_total', 'counter', 'xDS responses rejected.', [['', s.xds.nacks]]);
  metric(
    out,
    'trellis_xds_config_version',
    'gauge',
    'Accepted config version per xDS type (the version is a label; value 1).',
    Object.entries(s.xds.versions)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([t, v]) => [`{type="${esc(t)}",version="${esc(v)}"}`, 1]),
  );
  metric(out, 'trellis_proxy_ready', 'gauge', '1 when /ready answers 200.', [['', s.ready ? 1 : 0]]);
  metric(
    out,
    'trellis_proxy_registered',
    'gauge',
    '1 while the instance is registered with the control plane.',
    [['', s.registered ? 1 : 0]],
  );
  return out.join('\n') + '\n';
}
