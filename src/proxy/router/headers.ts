// Envoy request/response header mutations on the flat [name, value, ...] header list, in place:
// removes first, then adds by append action (decided against the headers before this batch's adds).
import type { HeaderMutation, RouteConfig, VirtualHostConfig } from '../config/types.js';

function indexOfName(h: readonly string[], name: string, end: number): number {
  for (let i = 0; i < end; i += 2) if (h[i] === name) return i;
  return -1;
}

/** Removes every occurrence of `name` at or after `from`, compacting in place. */
function removeFrom(h: string[], name: string, from: number): void {
  let w = from;
  for (let r = from; r < h.length; r += 2) {
    if (h[r] === name) continue;
    if (w !== r) {
      h[w] = h[r] as string;
      h[w + 1] = h[r + 1] as string;
    }
    w += 2;
  }
  if (w !== h.length) h.length = w; // a runtime call even when unchanged
}

/** Sets `name` to `value`: the first occurrence keeps its place, later ones go; appended if absent. */
function setHeader(h: string[], name: string, value: string): void {
  const i = indexOfName(h, name, h.length);
  if (i < 0) {
    h.push(name, value);
    return;
  }
  h[i + 1] = value;
  removeFrom(h, name, i + 2);
}

/**
 * Applies one HeaderMutation to `headers` (flat, lower-case names; mutated in place). As Envoy's
 * HeaderParser: removes first; then each add decides against the headers as they are after the
 * removes (`add_if_absent` skips a present name, `overwrite_if_exists` an absent one); overwrites
 * apply before appends; an empty value is not added (Envoy's keep_empty_value defaults to false).
 * Returns at once for an empty mutation, the common case.
 */
export function applyHeaderMutation(headers: string[], m: HeaderMutation): void {
  const add = m.add;
  if (add.length === 0 && m.remove.length === 0) return;
  for (const name of m.remove) removeFrom(headers, name, 0);
  if (add.length === 0) return;
  const n = headers.length;
  const apply: boolean[] | undefined = add.length > 30 ? [] : undefined;
  let bits = 0;
  for (let i = 0; i < add.length; i++) {
    const o = add[i]!;
    let yes = o.value !== '';
    if (yes && o.action === 'add_if_absent') yes = indexOfName(headers, o.name, n) < 0;
    else if (yes && o.action === 'overwrite_if_exists') yes = indexOfName(headers, o.name, n) >= 0;
    if (apply !== undefined) apply[i] = yes;
    else if (yes) bits |= 1 << i;
  }
  const on = (i: number): boolean => (apply !== undefined ? apply[i] === true : (bits & (1 << i)) !== 0);
  for (let i = 0; i < add.length; i++) {
    const o = add[i]!;
    if ((o.action === 'overwrite_if_exists_or_add' || o.action === 'overwrite_if_exists') && on(i))
      setHeader(headers, o.name, o.value);
  }
  for (let i = 0; i < add.length; i++) {
    const o = add[i]!;
    if ((o.action === 'append' || o.action === 'add_if_absent') && on(i)) headers.push(o.name, o.value);
  }
}

/** Request headers of a routed request: the route's mutation, then its virtual host's (Envoy's order). */
export function applyRequestHeaderMutations(
  headers: string[],
  route: RouteConfig,
  vhost: VirtualHostConfig,
): void {
  applyHeaderMutation(headers, route.requestHeaders);
  applyHeaderMutation(headers, vhost.requestHeaders);
}

/** Response headers (including redirects and direct responses): route, then virtual host. */
export function applyResponseHeaderMutations(
  headers: string[],
  route: RouteConfig,
  vhost: VirtualHostConfig,
): void {
  applyHeaderMutation(headers, route.responseHeaders);
  applyHeaderMutation(headers, vhost.responseHeaders);
}
