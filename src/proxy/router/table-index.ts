// Per-route-table lookup structures, built once per table (WeakMap keyed by the frozen table) so a
// request finds its virtual host with one Map get in the common case and never re-lowers domains.
import type { RouteConfig, RouteTableConfig, VirtualHostConfig } from '../config/types.js';

/** Path match kinds as small ints (a switch on them is cheaper than on strings). */
export const PATH_EXACT = 0;
export const PATH_PREFIX = 1;
export const PATH_SEPARATED = 2;
export const PATH_REGEX = 3;

export interface CompiledRoute {
  readonly route: RouteConfig;
  readonly pathKind: number;
  /** Path value (lower-case when !caseSensitive); '' for regex. */
  readonly pathValue: string;
  readonly caseSensitive: boolean;
  readonly method: string | undefined;
  readonly hasHeaders: boolean;
  readonly hasQuery: boolean;
}

export interface CompiledVhost {
  readonly vhost: VirtualHostConfig;
  readonly routes: readonly CompiledRoute[];
}

interface Wildcard {
  /** `*.suffix` -> `.suffix`; `prefix*` -> `prefix`. */
  readonly part: string;
  readonly cv: CompiledVhost;
}

export interface TableIndex {
  readonly exact: ReadonlyMap<string, CompiledVhost>;
  /** Longest first, so the first hit is Envoy's pick. */
  readonly suffixes: readonly Wildcard[];
  readonly prefixes: readonly Wildcard[];
  readonly star: CompiledVhost | undefined;
}

const indexes = new WeakMap<RouteTableConfig, TableIndex>();

function compileRoute(route: RouteConfig): CompiledRoute {
  const m = route.match;
  const p = m.path;
  const pathKind =
    p.type === 'exact'
      ? PATH_EXACT
      : p.type === 'prefix'
        ? PATH_PREFIX
        : p.type === 'path_separated_prefix'
          ? PATH_SEPARATED
          : PATH_REGEX;
  return {
    route,
    pathKind,
    pathValue: p.type === 'regex' ? '' : p.value,
    caseSensitive: m.caseSensitive,
    method: m.method,
    hasHeaders: m.headers.length > 0,
    hasQuery: m.queryParams.length > 0,
  };
}

function compileVhost(vhost: VirtualHostConfig): CompiledVhost {
  return { vhost, routes: vhost.routes.map(compileRoute) };
}

function build(table: RouteTableConfig): TableIndex {
  const compiled = new Map<VirtualHostConfig, CompiledVhost>();
  const cv = (vh: VirtualHostConfig): CompiledVhost => {
    let c = compiled.get(vh);
    if (c === undefined) compiled.set(vh, (c = compileVhost(vh)));
    return c;
  };
  const exact = new Map<string, CompiledVhost>();
  for (const [d, vh] of table.exactDomains) exact.set(d, cv(vh));
  const suffixes: Wildcard[] = [];
  const prefixes: Wildcard[] = [];
  let star: CompiledVhost | undefined;
  for (const vh of table.virtualHosts) {
    for (const raw of vh.domains) {
      const d = raw.toLowerCase();
      if (d === '*') star ??= cv(vh);
      else if (d.startsWith('*')) suffixes.push({ part: d.slice(1), cv: cv(vh) });
      else if (d.endsWith('*')) prefixes.push({ part: d.slice(0, -1), cv: cv(vh) });
      else if (!exact.has(d)) exact.set(d, cv(vh));
    }
  }
  // Stable sorts: among equal lengths the earlier virtual host wins, as in findVirtualHost.
  suffixes.sort((a, b) => b.part.length - a.part.length);
  prefixes.sort((a, b) => b.part.length - a.part.length);
  return { exact, suffixes, prefixes, star };
}

/** The index of `table`, built on first use. */
export function tableIndex(table: RouteTableConfig): TableIndex {
  let idx = indexes.get(table);
  if (idx === undefined) indexes.set(table, (idx = build(table)));
  return idx;
}

/** The wildcard domain for a lower-case host, Envoy's way: longest `*.suffix`, then longest `prefix*`. */
export function lookupWildcard(idx: TableIndex, host: string): CompiledVhost | undefined {
  const n = host.length;
  // A wildcard stands for at least one character.
  for (const w of idx.suffixes) if (n > w.part.length && host.endsWith(w.part)) return w.cv;
  for (const w of idx.prefixes) if (n > w.part.length && host.startsWith(w.part)) return w.cv;
  return undefined;
}

/** Index of the `:port` of an authority (`host:80`, `[::1]:80`), or -1. */
export function portColon(authority: string): number {
  const c = authority.lastIndexOf(':');
  if (c < 0) return -1;
  // `[v6]` without a port: the last colon is inside the brackets.
  if (authority.charCodeAt(0) === 91 /* [ */ && authority.indexOf(']') > c) return -1;
  // Bare IPv6 without brackets (not valid in Host, but be safe): more than one colon, no port.
  if (authority.charCodeAt(0) !== 91 && authority.indexOf(':') !== c) return -1;
  return c;
}
