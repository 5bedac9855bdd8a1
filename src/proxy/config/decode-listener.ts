// Decodes an xDS Listener (socket address + one HTTP connection manager, routes by RDS or inline)
// into ListenerConfig.
import { buildRouteTable, decodeRouteConfiguration } from './decode-route.js';
import { type Json, fail, join, objList, optEnum, optInt, optObj, optStr, reqObj, reqStr } from './read.js';
import type { ListenerConfig, ListenerDirection, RouteSource } from './types.js';

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** Trellis's listener names; anything else takes its direction from traffic_direction. */
export const OUTBOUND_LISTENER = 'trellis_outbound';
export const INBOUND_LISTENER = 'trellis_inbound';

function direction(l: Json, name: string, path: string): ListenerDirection {
  if (name === OUTBOUND_LISTENER) return 'outbound';
  if (name === INBOUND_LISTENER) return 'inbound';
  const d = optEnum(l, 'traffic_direction', path, ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'], 'UNSPECIFIED');
  return d === 'INBOUND' ? 'inbound' : d === 'OUTBOUND' ? 'outbound' : 'unspecified';
}

function routeSource(hcm: Json, path: string): RouteSource {
  const rds = optObj(hcm, 'rds', path);
  if (rds !== undefined) {
    const rp = join(path, 'rds');
    const cs = reqObj(rds, 'config_source', rp);
    if (optObj(cs, 'ads', join(rp, 'config_source')) === undefined)
      fail(join(rp, 'config_source'), 'only ads config sources are supported');
    return { type: 'rds', routeConfigName: reqStr(rds, 'route_config_name', rp) };
  }
  const rc = optObj(hcm, 'route_config', path);
  if (rc !== undefined) {
    const d = decodeRouteConfiguration(rc, join(path, 'route_config'));
    if (d.onDemand)
      fail(join(path, 'route_config.vhds'), 'VHDS is only supported on RDS route configurations');
    return { type: 'inline', routeTable: buildRouteTable(d.name, false, d.virtualHosts) };
  }
  return fail(path, 'rds or route_config is required');
}

function checkFilters(hcm: Json, path: string): void {
  const filters = objList(hcm, 'http_filters', path);
  for (const [f, p] of filters) {
    const tc = optObj(f, 'typed_config', p);
    const t = tc?.['@type'];
    if (
      t !== ROUTER_TYPE &&
      optStr(f, 'name', p) !== 'envoy.filters.http.router' &&
      f['is_optional'] !== true
    )
      fail(p, `HTTP filter ${String(t ?? f['name'])} is not supported`);
  }
}

export function decodeListener(l: Json): ListenerConfig {
  const name = reqStr(l, 'name', '');
  if (optObj(l, 'api_listener', '') !== undefined)
    fail('api_listener', 'API listeners are for proxyless clients');
  const sa = reqObj(reqObj(l, 'address', ''), 'socket_address', 'address');
  const address = reqStr(sa, 'address', 'address.socket_address');
  const port = optInt(sa, 'port_value', 'address.socket_address', 0, 65535) ?? 0;
  const chains = objList(l, 'filter_chains', '');
  if (chains.length !== 1)
    fail('filter_chains', `exactly one filter chain is supported, got ${chains.length}`);
  const [chain, cp] = chains[0] as [Json, string];
  if (optObj(chain, 'filter_chain_match', cp) !== undefined)
    fail(join(cp, 'filter_chain_match'), 'not supported by the Trellis proxy');
  const filters = objList(chain, 'filters', cp);
  if (filters.length !== 1)
    fail(join(cp, 'filters'), 'exactly one network filter (the HTTP connection manager) is supported');
  const [filter, fp] = filters[0] as [Json, string];
  const tc = reqObj(filter, 'typed_config', fp);
  const tp = join(fp, 'typed_config');
  if (tc['@type'] !== HCM_TYPE) fail(tp, `network filter ${String(tc['@type'])} is not supported`);
  checkFilters(tc, tp);
  const codec = optEnum(tc, 'codec_type', tp, ['AUTO', 'HTTP1', 'HTTP2'], 'AUTO');
  return {
    name,
    direction: direction(l, name, ''),
    address,
    port,
    statPrefix: optStr(tc, 'stat_prefix', tp) ?? name,
    codec: codec === 'HTTP1' ? 'http1' : codec === 'HTTP2' ? 'http2' : 'auto',
    routeSource: routeSource(tc, tp),
  };
}
