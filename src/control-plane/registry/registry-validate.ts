// Validates an instance registration (it arrives as untrusted JSON over the HTTP API) into the
// fields of an InstanceConfig plus its TTL; every problem is reported at once, by field.
import { isIP } from 'node:net';
import { TrellisError } from '../../common/errors.js';

export interface RegisterInput {
  readonly service: string;
  /** Defaults to `default`. */
  readonly namespace?: string;
  /** IPv4 or IPv6 literal. */
  readonly address: string;
  readonly port: number;
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** 1..1000000, default 1. */
  readonly weight?: number;
  /** Seconds without a heartbeat before the instance expires. */
  readonly ttlSeconds?: number;
  readonly sidecar?: boolean;
  /** The sidecar has a workload identity and terminates mTLS on `port` (clients then dial it with TLS). */
  readonly mtls?: boolean;
  /** A proxyless gRPC server (xDS-enabled, `trellis grpc-agent --serve`) serves `port` itself. */
  readonly proxyless?: boolean;
  /** Given: register or update this id. Absent: a new id is generated. */
  readonly id?: string;
}

export interface TtlBounds {
  readonly defaultSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

export interface ValidRegistration {
  readonly id?: string;
  readonly service: string;
  readonly namespace: string;
  readonly address: string;
  readonly port: number;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly sidecar: boolean;
  /** Present (true) only when the sidecar terminates mTLS. */
  readonly mtls?: true;
  /** Present (true) only for a proxyless gRPC server. */
  readonly proxyless?: true;
  readonly ttlMs: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const KNOWN = new Set([
  'service',
  'namespace',
  'address',
  'port',
  'ports',
  'labels',
  'weight',
  'ttlSeconds',
  'sidecar',
  'mtls',
  'proxyless',
  'id',
]);

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** Returns the validated registration or throws TrellisError BAD_REQUEST naming every bad field. */
export function validateRegistration(input: unknown, ttl: TtlBounds): ValidRegistration {
  if (!isRecord(input)) {
    throw new TrellisError('BAD_REQUEST', `instance registration must be an object (got ${show(input)})`);
  }
  const problems: { field: string; message: string }[] = [];
  const bad = (field: string, message: string): void => void problems.push({ field, message });

  for (const k of Object.keys(input)) {
    if (!KNOWN.has(k)) bad(k, `unknown field; known fields are ${[...KNOWN].join(', ')}`);
  }
  const name = (field: 'service' | 'namespace', fallback?: string): string => {
    const v = input[field] ?? fallback;
    if (typeof v !== 'string' || v.length > 63 || !DNS_LABEL.test(v)) {
      bad(field, `must be a DNS label (lower-case letters, digits and '-', at most 63) (got ${show(v)})`);
    }
    return String(v);
  };
  const service = name('service');
  const namespace = name('namespace', 'default');

  const address = input['address'];
  if (typeof address !== 'string' || isIP(address) === 0) {
    bad('address', `must be an IPv4 or IPv6 literal, e.g. 10.0.0.7 or ::1 (got ${show(address)})`);
  }
  const port = input['port'];
  if (!isPort(port)) bad('port', `must be an integer from 1 to 65535 (got ${show(port)})`);

  const ports: Record<string, number> = {};
  const rawPorts = input['ports'] ?? {};
  if (!isRecord(rawPorts)) bad('ports', `must be an object of port name to port (got ${show(rawPorts)})`);
  else
    for (const [k, v] of Object.entries(rawPorts)) {
      if (!DNS_LABEL.test(k)) bad(`ports.${k}`, 'port name must be a DNS label');
      else if (!isPort(v)) bad(`ports.${k}`, `must be an integer from 1 to 65535 (got ${show(v)})`);
      else ports[k] = v;
    }

  const labels: Record<string, string> = {};
  const rawLabels = input['labels'] ?? {};
  if (!isRecord(rawLabels)) bad('labels', `must be an object of string to string (got ${show(rawLabels)})`);
  else
    for (const [k, v] of Object.entries(rawLabels)) {
      if (!LABEL_KEY.test(k) || k.length > 317) bad(`labels.${k}`, 'is not a valid label key');
      else if (typeof v !== 'string' || v.length > 63)
        bad(`labels.${k}`, `must be a string of at most 63 characters`);
      else labels[k] = v;
    }

  const weight = input['weight'] ?? 1;
  if (!Number.isInteger(weight) || (weight as number) < 1 || (weight as number) > 1_000_000) {
    bad('weight', `must be an integer from 1 to 1000000 (got ${show(weight)})`);
  }
  const ttlSeconds = input['ttlSeconds'] ?? ttl.defaultSeconds;
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isFinite(ttlSeconds) ||
    ttlSeconds < ttl.minSeconds ||
    ttlSeconds > ttl.maxSeconds
  ) {
    bad(
      'ttlSeconds',
      `must be a number of seconds from ${ttl.minSeconds} to ${ttl.maxSeconds} (got ${show(ttlSeconds)})`,
    );
  }
  const sidecar = input['sidecar'] ?? false;
  if (typeof sidecar !== 'boolean') bad('sidecar', `must be true or false (got ${show(sidecar)})`);
  const proxyless = input['proxyless'] ?? false;
  if (typeof proxyless !== 'boolean') bad('proxyless', `must be true or false (got ${show(proxyless)})`);
  else if (proxyless && sidecar === true)
    bad(
      'proxyless',
      'an instance is served by a sidecar (sidecar: true) or by a proxyless gRPC server, not both',
    );
  const mtls = input['mtls'] ?? false;
  if (typeof mtls !== 'boolean') bad('mtls', `must be true or false (got ${show(mtls)})`);
  else if (mtls && sidecar !== true && proxyless !== true)
    bad(
      'mtls',
      'only a sidecar (sidecar: true) or a proxyless gRPC server with a workload identity (proxyless: true) can terminate mTLS',
    );
  const id = input['id'];
  if (id !== undefined && (typeof id !== 'string' || id.length > 253 || !ID.test(id))) {
    bad(
      'id',
      `must be 1-253 letters, digits, '.', '_', ':' or '-', starting with a letter or digit (got ${show(id)})`,
    );
  }

  if (problems.length > 0) {
    throw new TrellisError(
      'BAD_REQUEST',
      `invalid instance registration: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      problems,
    );
  }
  return {
    ...(id === undefined ? {} : { id: id as string }),
    service,
    namespace,
    address: address as string,
    port: port as number,
    ports,
    labels,
    weight: weight as number,
    sidecar: sidecar as boolean,
    ...(mtls === true ? { mtls: true as const } : {}),
    ...(proxyless === true ? { proxyless: true as const } : {}),
    ttlMs: Math.round((ttlSeconds as number) * 1000),
  };
}
