// Group/kind defaulting of references: parentRefs (Gateway API default Gateway; a Service in mesh
// mode, GAMMA) and backendRefs (default core Service). "core" is accepted as the core group "".

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export type RefResolution<K> =
  | { readonly ok: true; readonly group: string; readonly kind: K }
  | { readonly ok: false; readonly field: 'group' | 'kind'; readonly message: string };

const isCore = (g: string | undefined): boolean => g === '' || g === 'core';

export function resolveParentRef(
  group: string | undefined,
  kind: string | undefined,
): RefResolution<'Service' | 'Gateway'> {
  // Lenient where there is only one sensible reading: `kind: Service` without a group, or the core
  // group without a kind, both mean a Service (the spec's defaults would make them invalid refs).
  if (kind === 'Service' || (kind === undefined && isCore(group))) {
    if (group === undefined || isCore(group)) return { ok: true, group: '', kind: 'Service' };
    return {
      ok: false,
      field: 'group',
      message: `a Service is in the core group: set group: "" (or omit it); got ${JSON.stringify(group)}`,
    };
  }
  if (kind === undefined || kind === 'Gateway') {
    if (group === undefined || group === GATEWAY_GROUP)
      return { ok: true, group: GATEWAY_GROUP, kind: 'Gateway' };
    return {
      ok: false,
      field: 'group',
      message: `a Gateway is in group ${GATEWAY_GROUP}; got ${JSON.stringify(group)}`,
    };
  }
  return {
    ok: false,
    field: 'kind',
    message: `parentRef kind must be Service (mesh mode: group "", kind Service) or Gateway; got ${JSON.stringify(kind)}`,
  };
}

export function resolveBackendRef(
  group: string | undefined,
  kind: string | undefined,
): RefResolution<'Service'> {
  if (kind !== undefined && kind !== 'Service')
    return {
      ok: false,
      field: 'kind',
      message: `backends must be kind Service (or omit kind); got ${JSON.stringify(kind)}`,
    };
  if (group !== undefined && !isCore(group))
    return {
      ok: false,
      field: 'group',
      message: `a Service is in the core group: set group: "" (or omit it); got ${JSON.stringify(group)}`,
    };
  return { ok: true, group: '', kind: 'Service' };
}
