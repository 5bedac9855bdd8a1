// `trellis proxy-status`: every proxy connected to the control plane and whether it runs the latest config.
import { ApiClient } from '../client.js';
import { ago, printStructured, table } from '../output.js';

interface TypeStatus {
  lastVersionSent?: string;
  lastVersionAcked?: string;
  synced?: boolean;
  lastNack?: { message: string; version?: string } | null;
}
interface ProxyRow {
  nodeId: string;
  kind: string;
  namespace: string;
  service?: string;
  gateway?: string;
  connected: boolean;
  connectedSince?: string;
  types: Record<string, TypeStatus>;
}

const SHORT = ['LDS', 'RDS', 'VHDS', 'CDS', 'EDS'];

function state(t: TypeStatus | undefined): string {
  if (!t) return '-';
  if (t.lastNack) return 'NACKED';
  if (!t.lastVersionSent) return '-';
  return t.synced ? 'SYNCED' : 'STALE';
}

export async function proxyStatusCommand(output: string | undefined, server: string): Promise<number> {
  const { items } = await new ApiClient(server).call<{ items: ProxyRow[] }>('GET', '/api/v1/proxies');
  if (output === 'json' || output === 'yaml') {
    printStructured({ items }, output);
    return 0;
  }
  if (items.length === 0) {
    process.stdout.write('No proxies are connected.\n');
    return 0;
  }
  const used = SHORT.filter((s) => items.some((p) => p.types[s]));
  process.stdout.write(
    table(
      ['NODE', 'KIND', 'SERVICE', 'CONNECTED', ...used],
      items.map((p) => [
        p.nodeId,
        p.kind,
        p.service
          ? `${p.service}.${p.namespace}`
          : p.gateway !== undefined
            ? `gateway/${p.gateway}.${p.namespace}`
            : p.namespace,
        p.connected ? ago(p.connectedSince) : 'no',
        ...used.map((s) => state(p.types[s])),
      ]),
    ) + '\n',
  );
  const nacks = items.flatMap((p) =>
    Object.entries(p.types)
      .filter(([, t]) => t.lastNack)
      .map(([ty, t]) => `${p.nodeId} ${ty}: ${t.lastNack!.message}`),
  );
  if (nacks.length) process.stdout.write(`\nRejected config:\n${nacks.map((n) => `  ${n}`).join('\n')}\n`);
  return 0;
}
