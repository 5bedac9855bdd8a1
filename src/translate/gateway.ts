// LDS and RDS for an ingress gateway node (`trellis proxy --gateway NAME`): one listener per Gateway
// listener port on each of its addresses, and per port a RouteConfiguration whose virtual hosts
// hold the HTTPRoutes/GRPCRoutes attached to the Gateway, with Gateway API hostname semantics.
import type { GatewayListenerConfig, GatewayResource } from '../api/types.js';
import { covers, intersectHostnames } from '../api/gateway-hostnames.js';
import { clientCaRefsForPort } from '../api/schema-gateway.js';
import { serviceKey } from '../api/mesh-snapshot.js';
import { LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../xds/type-urls.js';
import { gatewayPolicies, inboundSecurity } from './authz.js';
import { vocabulary, type NodeInfo } from './node.js';
import { gatewayListenerName, gatewayRouteConfigName, parseGatewayRouteConfigName } from './names.js';
import type { PrecedenceKey } from './precedence.js';
import { hcmFilter, socketAddress, TLS_INSPECTOR_TYPE, type XdsResource } from './proto.js';
import type { ActionContext } from './route-action.js';
import { buildSorted, routeEntries, type RouteEntry } from './routes.js';
import { isPassthroughPort, passthroughListener } from './gateway-passthrough.js';
import { memoize, type AttachedRoute, type ConfigIndex } from './snapshot-index.js';

type Obj = Record<string, unknown>;

/** The Gateway a gateway node serves, when it exists. */
export function gatewayOf(index: ConfigIndex, node: NodeInfo): GatewayResource | undefined {
  if (node.kind !== 'gateway' || !node.gateway) return undefined;
  return index.gateways.get(serviceKey(node.namespace, node.gateway));
}

/** Distinct listener ports, in declaration order. */
const portsOf = (gw: GatewayResource): number[] => [...new Set(gw.spec.listeners.map((l) => l.port))];

/** Names a gateway node gets for a wildcard LDS subscription: every address x every port. */
export function gatewayListenerNames(index: ConfigIndex, node: NodeInfo): readonly string[] {
  const gw = gatewayOf(index, node);
  if (gw === undefined) return [];
  const ports = portsOf(gw);
  return gw.spec.addresses.flatMap((a) => ports.map((p) => gatewayListenerName(a, p)));
}

/**
 * `trellis_gateway_<address>_<port>`: an HCM on RDS `trellis_gateway_<port>`. The listener is the
 * edge of the mesh: OUTBOUND, so the proxy strips client-supplied mesh headers, and
 * use_remote_address, so it sets x-forwarded-for / x-forwarded-proto and a fresh x-request-id.
 * Policies targeting the Gateway (or its namespace) add the security filters before the router.
 */
export function gatewayListener(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  const gw = gatewayOf(index, node);
  if (gw === undefined) return undefined;
  const key = `lds|gateway|${serviceKey(gw.metadata.namespace, gw.metadata.name)}|${name}`;
  return memoize(index.memo, key, () => {
    for (const address of gw.spec.addresses)
      for (const port of portsOf(gw)) {
        if (gatewayListenerName(address, port) !== name) continue;
        // protocol TLS: TLSRoutes by SNI, passed through undecrypted (gateway-passthrough.ts).
        if (isPassthroughPort(gw, port)) return passthroughListener(index, gw, name, address, port);
        // AuthorizationPolicy / RequestAuthentication on the Gateway: the sidecar inbound's strict
        // path normalisation, jwt_authn and rbac filters, before the router.
        const policies = gatewayPolicies(index, gw, port);
        const security = policies && inboundSecurity(policies, gw.metadata.namespace, port);
        const hcm = hcmFilter({
          stat_prefix: name,
          ...(security?.hcm ?? {}),
          rds: { route_config_name: gatewayRouteConfigName(port), config_source: { ads: {} } },
          use_remote_address: true,
        });
        if (security !== undefined) {
          const tc = hcm['typed_config'] as Obj;
          tc['http_filters'] = [...security.httpFilters, ...(tc['http_filters'] as unknown[])];
        }
        const https = gw.spec.listeners.filter((l) => l.port === port && l.protocol === 'HTTPS');
        return {
          '@type': LISTENER_TYPE,
          name,
          address: socketAddress(address, port),
          traffic_direction: 'OUTBOUND',
          ...(https.length === 0
            ? { filter_chains: [{ filters: [hcm] }] }
            : {
                listener_filters: [
                  {
                    name: 'envoy.filters.listener.tls_inspector',
                    typed_config: { '@type': TLS_INSPECTOR_TYPE },
                  },
                ],
                filter_chains: tlsChains(gw, https, hcm, clientCa(index, gw, port)),
              }),
        };
      }
    return undefined;
  });
}

// ---------------------------------------------------------------- HTTPS (TLS termination)

/** SDS name of a Gateway certificate: its Secret's `namespace/name`. */
export const gatewaySecretName = (namespace: string, name: string): string => `secret/${namespace}/${name}`;
const GATEWAY_ALPN = ['h2', 'http/1.1'];
const DOWNSTREAM_TLS_TYPE =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/**
 * One TLS filter chain per HTTPS listener of a port: matched by SNI (server_names = the listener
 * hostname; the listener without one is the default chain, any other SNI or none), terminated
 * with the listener's Secrets over SDS (ADS), ALPN h2 and http/1.1, TLS 1.2 at least; with `ca`
 * (GEP-91 client certificate validation on this port) a required client certificate verified
 * against it; every chain runs the port's HCM. A ClientHello no chain matches is refused.
 */
function tlsChains(
  gw: GatewayResource,
  https: readonly GatewayListenerConfig[],
  hcm: Obj,
  ca: string | undefined,
): Obj[] {
  const ordered = [...https].sort(
    (a, b) => (a.hostname === undefined ? 1 : 0) - (b.hostname === undefined ? 1 : 0),
  );
  return ordered.map((l) => ({
    name: l.name,
    filter_chain_match: {
      transport_protocol: 'tls',
      ...(l.hostname !== undefined && { server_names: [l.hostname] }),
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS_TYPE,
        common_tls_context: {
          tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
          alpn_protocols: GATEWAY_ALPN,
          tls_certificate_sds_secret_configs: (l.tls?.certificateRefs ?? []).map((ref) => ({
            name: gatewaySecretName(gw.metadata.namespace, ref),
            sds_config: { ads: {}, resource_api_version: 'V3' },
          })),
          ...(ca !== undefined && { validation_context: { trusted_ca: { inline_string: ca } } }),
        },
        require_client_certificate: ca !== undefined,
      },
    },
    filters: [hcm],
  }));
}

/**
 * The CA bundle client certificates are verified against on an HTTPS port (Gateway API GEP-91,
 * spec.tls.frontend: the port's perPort entry, else the default), inline: the `ca.crt` of each
 * ConfigMap named, concatenated. Undefined: no client certificate asked for. A ConfigMap that is
 * gone (or lacks ca.crt) adds nothing: with none left the bundle is empty and every client is
 * refused (fail closed).
 */
function clientCa(index: ConfigIndex, gw: GatewayResource, port: number): string | undefined {
  const refs = clientCaRefsForPort(gw.spec.frontendTls, port);
  if (refs.length === 0) return undefined;
  return refs
    .map((name) => index.configMaps.get(serviceKey(gw.metadata.namespace, name))?.spec.data['ca.crt'])
    .filter((pem): pem is string => pem !== undefined)
    .map((pem) => pem.trim() + '\n')
    .join('');
}

/** SDS for a gateway node: only the Secrets its own Gateway's HTTPS listeners name. */
export function gatewaySecret(index: ConfigIndex, node: NodeInfo, name: string): XdsResource | undefined {
  const gw = gatewayOf(index, node);
  if (gw === undefined) return undefined;
  const ns = gw.metadata.namespace;
  const ref = gw.spec.listeners
    .flatMap((l) => l.tls?.certificateRefs ?? [])
    .find((r) => gatewaySecretName(ns, r) === name);
  const secret = ref === undefined ? undefined : index.secrets.get(serviceKey(ns, ref));
  if (secret === undefined) return undefined;
  const key = `sds|gateway|${serviceKey(ns, gw.metadata.name)}|${name}`;
  return memoize(index.memo, key, () => ({
    '@type': SECRET_TYPE,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: secret.spec.certificateChain },
      private_key: { inline_string: secret.spec.privateKey },
    },
  }));
}

// ---------------------------------------------------------------- hostname precedence

const isWild = (h: string): boolean => h.startsWith('*.');

/** Gateway API hostname precedence: most non-wildcard characters, then most characters. */
const hostKey = (h: string): PrecedenceKey =>
  h === '*' ? [0, 0] : isWild(h) ? [0, -h.length] : [-h.length, -h.length];

/** How specific a listener hostname is when it covers a request host: higher wins. */
const listenerRank = (lh: string | undefined): number =>
  lh === undefined ? 0 : isWild(lh) ? 1_000 + lh.length : 1_000_000;

// ---------------------------------------------------------------- RDS

interface Attachment {
  readonly route: AttachedRoute;
  /** Hostnames the route serves on this listener (after intersection). */
  readonly hosts: readonly string[];
}

/** Routes attached to one listener: parentRef section/port match, namespaces allowed, hosts overlap. */
function attachments(index: ConfigIndex, gw: GatewayResource, listener: GatewayListenerConfig): Attachment[] {
  const all = index.gatewayAttached.get(serviceKey(gw.metadata.namespace, gw.metadata.name)) ?? [];
  const out: Attachment[] = [];
  const seen = new Set<object>();
  for (const a of all) {
    const p = a.parent;
    if (listener.protocol === 'TLS') continue; // TLSRoutes only (gateway-passthrough.ts)
    if (p.sectionName !== undefined && p.sectionName !== listener.name) continue;
    if (p.port !== undefined && p.port !== listener.port) continue;
    if (listener.allowedRoutesFrom === 'Same' && a.route.metadata.namespace !== gw.metadata.namespace)
      continue;
    // A route attached to this listener through two parentRefs counts once.
    if (seen.has(a.route)) continue;
    const hosts = intersectHostnames(a.route.spec.hostnames, listener.hostname);
    if (hosts.length === 0) continue;
    seen.add(a.route);
    out.push({ route: a, hosts });
  }
  return out;
}

/**
 * The virtual hosts of one port. A request is served by the listener whose hostname matches it
 * most specifically, and only by routes attached to that listener; among them, routes with more
 * specific hostnames win, then the usual match precedence. So: one virtual host per listener
 * hostname (`*` when none) and per route hostname, each owned by the most specific listener that
 * covers it and holding the owner's routes whose hostnames cover it.
 */
function virtualHosts(index: ConfigIndex, gw: GatewayResource, port: number): Obj[] {
  const listeners = gw.spec.listeners.filter((l) => l.port === port);
  const byListener = new Map(listeners.map((l) => [l, attachments(index, gw, l)] as const));
  const hosts: string[] = [];
  const addHost = (h: string): void => void (hosts.includes(h) || hosts.push(h));
  for (const [l, atts] of byListener) {
    addHost(l.hostname ?? '*');
    for (const a of atts) a.hosts.forEach(addHost);
  }
  // The sidecar's rule translation; no parent Service port, so a backendRef without a port takes
  // the Service's only port, else its default one (80, else the first HTTP port).
  const ctx: ActionContext = { services: index.services, kind: vocabulary('gateway'), parentPort: 0 };
  const out: Obj[] = [];
  for (const h of hosts) {
    let owner: GatewayListenerConfig | undefined;
    for (const l of listeners)
      if (
        covers(l.hostname ?? '*', h) &&
        (owner === undefined || listenerRank(l.hostname) > listenerRank(owner.hostname))
      )
        owner = l;
    if (owner === undefined) continue;
    const entries: RouteEntry[] = [];
    for (const a of byListener.get(owner) ?? []) {
      let best: PrecedenceKey | undefined;
      for (const e of a.hosts) {
        if (!covers(e, h)) continue;
        const k = hostKey(e);
        if (best === undefined || k[0]! < best[0]! || (k[0] === best[0] && k[1]! < best[1]!)) best = k;
      }
      if (best === undefined) continue;
      const hk = best;
      for (const entry of routeEntries(ctx, [a.route]))
        entries.push({ ...entry, key: [...hk, ...entry.key] });
    }
    out.push({
      name: `${h}:${port}`,
      domains: h === '*' ? ['*'] : [h, `${h}:${port}`],
      routes: buildSorted(entries),
    });
  }
  return out;
}

/** RDS `trellis_gateway_<port>` for a gateway node. */
export function gatewayRouteConfiguration(
  index: ConfigIndex,
  node: NodeInfo,
  name: string,
): XdsResource | undefined {
  const port = parseGatewayRouteConfigName(name);
  const gw = gatewayOf(index, node);
  if (port === undefined || gw === undefined || !gw.spec.listeners.some((l) => l.port === port))
    return undefined;
  if (isPassthroughPort(gw, port)) return undefined; // no HTTP there
  const key = `rds|gateway|${serviceKey(gw.metadata.namespace, gw.metadata.name)}|${name}`;
  return memoize(index.memo, key, () => ({
    '@type': ROUTE_TYPE,
    name,
    virtual_hosts: virtualHosts(index, gw, port),
  }));
}
