// Test helpers for the router: route tables from xDS JSON (through the real decoders), request
// views, and a seeded random source.
import { buildRouteTable } from '../config/decode-route.js';
import { decodeVirtualHostResource } from '../config/decode.js';
import type { RouteTableConfig, VirtualHostConfig } from '../config/types.js';
import type { RequestView } from './types.js';

export type Obj = Record<string, unknown>;

/** An xDS VirtualHost JSON. */
export function vh(name: string, domains: string[], routes: Obj[], extra: Obj = {}): Obj {
  return { name, domains, routes, ...extra };
}

export function decodeVhost(json: Obj): VirtualHostConfig {
  const r = decodeVirtualHostResource(json);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

/** A route table from xDS VirtualHost JSON, decoded and validated as the proxy does. */
export function table(...vhosts: Obj[]): RouteTableConfig {
  return buildRouteTable('test', false, vhosts.map(decodeVhost));
}

/** One virtual host `web` (domains `web`, `web:80`) with these routes. */
export function webTable(routes: Obj[], extra: Obj = {}): RouteTableConfig {
  return table(vh('web', ['web', 'web:80'], routes, extra));
}

export function req(authority: string, path: string, method = 'GET', headers: string[] = []): RequestView {
  return { method, authority, path, headers };
}

/** mulberry32: a small seeded PRNG in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const never = (): number => {
  throw new Error('random() called on a path that needs none');
};

/** A forward route JSON to `cluster` with this match. */
export function fwd(name: string, match: Obj, route: Obj = {}): Obj {
  return { name, match, route: { cluster: name, ...route } };
}
