// `trellis certs [-o json|yaml]`: the CA (roots, intermediate, rotation) and every workload identity
// it issued (SPIFFE ID, instance, serial, issuer, expiry, last renewal, rotation state), the
// user-supplied gateway certificates (TLS Secrets) with the Gateways that serve them, and warnings
// on stderr well before anything expires. -o json adds each chain and the trust bundle.
import { TrellisError } from '../../common/errors.js';
import { ApiClient, serverUrl } from '../client.js';
import { printStructured, table } from '../output.js';
import { parseFlags } from '../flags.js';

export const CERTS_HELP = `Usage: trellis certs [-o json|yaml] [--server URL]

Lists the CA's roots and intermediate, every workload certificate issued since the control
plane started, and the gateway certificates (TLS Secrets, never their keys), and warns (stderr)
about anything expiring: the intermediate within 30 days, a root within 90 days, workload
certificates overdue for renewal or expired, a gateway certificate within 30 days (Trellis does
not renew those: apply a renewed Secret). -o json adds each workload's certificate chain (PEM) and
the trust bundle.
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
/** A TLS Secret as the API shows it (the key and PEM redacted), with the Gateways that use it. */
export interface GatewayCert {
  namespace: string;
  name: string;
  subject: string;
  sans: string[];
  notAfter: string;
  /** `namespace/gateway:listener` of each HTTPS listener naming this Secret. */
  usedBy: string[];
}
/** Days before a gateway certificate's expiry when `trellis certs` starts to warn. */
export const GATEWAY_CERT_WARN_DAYS = 30;

export interface CertsReport {
  trustDomain: string;
  now: string;
  workloadCertTtlSeconds: number;
  ca: { roots: CaCertView[]; intermediate: CaCertView & { issuer: string } };
  rotation: { phase: string; switchAt: string; dropAt: string } | null;
  warnThresholds: { intermediateSeconds: number; rootSeconds: number };
  items: Item[];
  /** Added by the CLI from the Secret and Gateway resources. */
  gatewayCertificates?: GatewayCert[];
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
  for (const g of r.gatewayCertificates ?? []) {
    const gl = Date.parse(g.notAfter) - now;
    if (gl >= GATEWAY_CERT_WARN_DAYS * 86_400_000) continue;
    const used = g.usedBy.length > 0 ? `served by ${g.usedBy.join(', ')}` : 'not used by any Gateway';
    out.push(
      `gateway certificate Secret ${g.namespace}/${g.name} (${g.subject || g.sans.join(', ')}) ${gl <= 0 ? 'expired' : `expires in ${left(gl)}`} (${g.notAfter}), ${used}: apply a renewed Secret (Trellis does not renew certificates it did not issue)`,
    );
  }
  return out;
}

interface Doc {
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  type?: string;
  certificate?: { subject?: string; sans?: string[]; notAfter?: string };
}

/** Gateway certificates from the API's (redacted) Secrets and the Gateways' HTTPS listeners. */
export function gatewayCertificates(secrets: readonly Doc[], gateways: readonly Doc[]): GatewayCert[] {
  const usedBy = new Map<string, string[]>();
  for (const g of gateways) {
    const ns = g.metadata.namespace ?? 'default';
    const listeners = (g.spec?.['listeners'] ?? []) as {
      name?: string;
      tls?: { certificateRefs?: { name?: string; namespace?: string }[] };
    }[];
    for (const l of listeners)
      for (const ref of l.tls?.certificateRefs ?? []) {
        const key = `${ref.namespace ?? ns}/${ref.name ?? ''}`;
        usedBy.set(key, [...(usedBy.get(key) ?? []), `${ns}/${g.metadata.name}:${l.name ?? '?'}`]);
      }
  }
  return secrets
    .filter((s) => s.certificate?.notAfter !== undefined)
    .map((s) => {
      const ns = s.metadata.namespace ?? 'default';
      return {
        namespace: ns,
        name: s.metadata.name,
        subject: s.certificate?.subject ?? '',
        sans: s.certificate?.sans ?? [],
        notAfter: s.certificate!.notAfter!,
        usedBy: usedBy.get(`${ns}/${s.metadata.name}`) ?? [],
      };
    })
    .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
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
  const gws = r.gatewayCertificates ?? [];
  if (gws.length > 0)
    lines.push(
      '',
      table(
        ['GATEWAY CERTIFICATE (SECRET)', 'SUBJECT / SANS', 'NOT AFTER', 'LEFT', 'SERVED BY'],
        gws.map((g) => [
          `${g.namespace}/${g.name}`,
          g.subject || g.sans.join(', '),
          g.notAfter,
          left(Date.parse(g.notAfter) - now),
          g.usedBy.join(', ') || '-',
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
  const client = new ApiClient(serverUrl(v.server));
  const [ca, secrets, gateways] = await Promise.all([
    client.call<CertsReport>('GET', '/api/v1/certificates'),
    client.call<{ items: Doc[] }>('GET', '/api/v1/resources?kind=Secret'),
    client.call<{ items: Doc[] }>('GET', '/api/v1/resources?kind=Gateway'),
  ]);
  const report: CertsReport = {
    ...ca,
    gatewayCertificates: gatewayCertificates(secrets.items, gateways.items),
  };
  const warnings = certWarnings(report);
  if (v.output === 'json' || v.output === 'yaml') printStructured({ ...report, warnings }, v.output);
  else process.stdout.write(renderCerts(report));
  for (const w of warnings) process.stderr.write(`WARN: ${w}\n`);
  return 0;
}
