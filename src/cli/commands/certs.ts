// `trellis certs [-o json|yaml]`: the CA (roots, intermediate, rotation) and every workload identity
// it issued (SPIFFE ID, instance, serial, issuer, expiry, last renewal, rotation state), with
// warnings on stderr well before anything expires. -o json adds each chain and the trust bundle.
import { TrellisError } from '../../common/errors.js';
import { ApiClient, serverUrl } from '../client.js';
import { printStructured, table } from '../output.js';
import { parseFlags } from '../flags.js';

export const CERTS_HELP = `Usage: trellis certs [-o json|yaml] [--server URL]

Lists the CA's roots and intermediate and every workload certificate issued since the control
plane started, and warns (stderr) about anything expiring: the intermediate within 30 days, a root
within 90 days, workload certificates overdue for renewal or expired. -o json adds each workload's
certificate chain (PEM) and the trust bundle.
`;

interface CaCertView {
  subject: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  role?: string;
}
interface Item {
  spiffeId: string;
  instance?: string;
  serialNumber: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  lastRenewalAt: string;
  renewals: number;
  state: string;
  truncated: boolean;
}
export interface CertsReport {
  trustDomain: string;
  now: string;
  workloadCertTtlSeconds: number;
  ca: { roots: CaCertView[]; intermediate: CaCertView & { issuer: string } };
  rotation: { phase: string; switchAt: string; dropAt: string } | null;
  warnThresholds: { intermediateSeconds: number; rootSeconds: number };
  items: Item[];
}

/** "3d4h", "5h12m", "40s"; negative = "expired". */
export function left(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h > 0 ? `${h}h` : ''}`;
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  if (m > 0) return `${m}m${s % 60 > 0 ? `${s % 60}s` : ''}`;
  return `${s}s`;
}

/** The warnings for a report, one line each (pure, for tests). */
export function certWarnings(r: CertsReport, now = Date.parse(r.now)): string[] {
  const out: string[] = [];
  const inter = r.ca.intermediate;
  const interLeft = Date.parse(inter.notAfter) - now;
  if (interLeft < r.warnThresholds.intermediateSeconds * 1000)
    out.push(
      `the intermediate "${inter.subject}" ${interLeft <= 0 ? 'expired' : `expires in ${left(interLeft)}`} (${inter.notAfter}): run 'trellis ca rotate'`,
    );
  for (const root of r.ca.roots) {
    if (root.role?.startsWith('retiring')) continue;
    const rl = Date.parse(root.notAfter) - now;
    if (rl < r.warnThresholds.rootSeconds * 1000)
      out.push(
        `the root "${root.subject}" ${rl <= 0 ? 'expired' : `expires in ${left(rl)}`} (${root.notAfter}): run 'trellis ca rotate --root'`,
      );
  }
  for (const i of r.items) {
    const who = `${i.spiffeId}${i.instance ? ` (${i.instance})` : ''}`;
    if (i.state === 'expired')
      out.push(
        `${who}: certificate expired at ${i.notAfter}; is its sidecar running, and is its token still valid?`,
      );
    else if (i.state === 'overdue')
      out.push(
        `${who}: certificate not renewed and expires in ${left(Date.parse(i.notAfter) - now)}; check the sidecar's log (control plane reachable? token expired?)`,
      );
    if (i.truncated)
      out.push(`${who}: certificate cut short to end with the intermediate; rotate the intermediate`);
  }
  return out;
}

export function renderCerts(r: CertsReport, now = Date.parse(r.now)): string {
  const lines: string[] = [];
  lines.push(
    `trust domain ${r.trustDomain}; workload certificates live ${left(r.workloadCertTtlSeconds * 1000)}`,
  );
  lines.push('');
  const caRows = [
    ...r.ca.roots.map((x) => [
      'root',
      x.subject,
      x.notAfter,
      left(Date.parse(x.notAfter) - now),
      x.role ?? '',
    ]),
    [
      'intermediate',
      r.ca.intermediate.subject,
      r.ca.intermediate.notAfter,
      left(Date.parse(r.ca.intermediate.notAfter) - now),
      'issuing',
    ],
  ];
  lines.push(table(['CA', 'SUBJECT', 'NOT AFTER', 'LEFT', 'ROLE'], caRows));
  if (r.rotation)
    lines.push(
      '',
      `root rotation in progress: ${r.rotation.phase}; issuing under the new root from ${r.rotation.switchAt}; old root dropped at ${r.rotation.dropAt}`,
    );
  lines.push('');
  if (r.items.length === 0) lines.push('no workload certificates issued since the control plane started');
  else
    lines.push(
      table(
        ['SPIFFE ID', 'INSTANCE', 'SERIAL', 'ISSUER', 'NOT AFTER', 'LEFT', 'RENEWED', 'STATE'],
        r.items.map((i) => [
          i.spiffeId,
          i.instance ?? '-',
          i.serialNumber.slice(0, 12),
          i.issuer.replace(/^CN=/, '').replace(/, O=Trellis$/, ''),
          i.notAfter,
          left(Date.parse(i.notAfter) - now),
          `${left(now - Date.parse(i.lastRenewalAt))} ago (${i.renewals}x)`,
          i.state,
        ]),
      ),
    );
  return lines.join('\n') + '\n';
}

export async function certsCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseFlags(
    argv,
    {
      output: { type: 'string', short: 'o' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    CERTS_HELP,
  );
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(CERTS_HELP);
    return 0;
  }
  if (v.output !== undefined && v.output !== 'json' && v.output !== 'yaml' && v.output !== 'table')
    throw new TrellisError('BAD_REQUEST', `-o must be json, yaml or table, got '${v.output}'`);
  const report = await new ApiClient(serverUrl(v.server)).call<CertsReport>('GET', '/api/v1/certificates');
  const warnings = certWarnings(report);
  if (v.output === 'json' || v.output === 'yaml') printStructured({ ...report, warnings }, v.output);
  else process.stdout.write(renderCerts(report));
  for (const w of warnings) process.stderr.write(`WARN: ${w}\n`);
  return 0;
}
