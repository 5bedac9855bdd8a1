// Cross-field checks inside one Service: port names required when several, unique port names and
// numbers, endpoint port names that exist, unique endpoints and subset names.
import { ipLiteral } from './formats.js';
import { show } from './issues.js';
import type { Emit, Raw } from './raw.js';
import { checkUnique, isRecord, numOf, records, strOf } from './raw.js';

/** Effective port names: a single unnamed port is named after its protocol (default http). */
export function portNames(ports: readonly Raw[]): string[] {
  return ports.map((p) => strOf(p.name) ?? (ports.length === 1 ? (strOf(p.protocol) ?? 'http') : ''));
}

export function checkService(spec: unknown, emit: Emit): void {
  if (!isRecord(spec)) return;
  const ports = records(spec.ports);
  const base = ['spec', 'ports'];
  if (ports.length > 1)
    for (const [p, i] of ports)
      if (p.name === undefined)
        emit(
          'missing_field',
          [...base, i, 'name'],
          'a Service with several ports must name each one (e.g. name: http); routes and endpoints refer to ports by name',
        );
  checkUnique(
    ports.map(([p, i]) => ({ key: strOf(p.name), path: [...base, i, 'name'], label: show(p.name) })),
    emit,
    'port name',
  );
  checkUnique(
    ports.map(([p, i]) => ({ key: numOf(p.port), path: [...base, i, 'port'], label: show(p.port) })),
    emit,
    'port number',
  );

  const names = portNames(ports.map(([p]) => p)).filter((n) => n !== '');
  const endpoints = records(spec.endpoints);
  for (const [e, i] of endpoints) {
    if (!isRecord(e.ports)) continue;
    for (const name of Object.keys(e.ports))
      if (!names.includes(name))
        emit(
          'invalid_value',
          ['spec', 'endpoints', i, 'ports', name],
          `no port named ${show(name)} in spec.ports; port names: ${names.join(', ') || '(none)'}`,
        );
  }
  checkUnique(
    endpoints.map(([e, i]) => {
      const addr = strOf(e.address);
      const canonical = addr === undefined ? undefined : ipLiteral(addr);
      const port = numOf(e.port) ?? 'default';
      return {
        key: canonical === undefined ? undefined : `${canonical} ${port}`,
        path: ['spec', 'endpoints', i, 'address'],
        label: `${show(addr)}${typeof port === 'number' ? ` port ${port}` : ''}`,
      };
    }),
    emit,
    'endpoint address',
  );
  checkUnique(
    records(spec.subsets).map(([s, i]) => ({
      key: strOf(s.name),
      path: ['spec', 'subsets', i, 'name'],
      label: show(s.name),
    })),
    emit,
    'subset name',
  );
}
