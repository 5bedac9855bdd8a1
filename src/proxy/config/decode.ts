// One decode+validate entry point per xDS resource type (input: decodeResource JSON), returning a
// frozen config value or an error naming the resource and field, as NACK messages need.
import { deepFreeze } from '../../common/deep-freeze.js';
import { type Result, err, ok } from '../../common/result.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SECRET_TYPE,
  VIRTUAL_HOST_TYPE,
} from '../../xds/type-urls.js';
import { decodeCluster, decodeClusterLoadAssignment } from './decode-cluster.js';
import { decodeTlsSecret } from './decode-gateway-tls.js';
import { decodeListener } from './decode-listener.js';
import type { TlsSecretConfig } from './decode-tls.js';
import { decodeRouteConfiguration, decodeVirtualHost } from './decode-route.js';
import { FieldError, isObj, type Json } from './read.js';
import type { ClusterConfig, ClusterEndpointsConfig, ListenerConfig, VirtualHostConfig } from './types.js';

/** A decoded RouteConfiguration before VHDS virtual hosts are merged in. */
export interface RouteConfigurationConfig {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostConfig[];
  readonly onDemand: boolean;
}

export interface ResourceError {
  /** The resource's name, or `#<index>` in the response when it has none. */
  readonly name: string;
  /** `<Kind> <name>: <field path>: <what is wrong>`. */
  readonly message: string;
}

export type DecodeResult<T> = Result<T, ResourceError>;

const KINDS: Readonly<Record<string, { kind: string; nameKey: string }>> = {
  [LISTENER_TYPE]: { kind: 'Listener', nameKey: 'name' },
  [ROUTE_TYPE]: { kind: 'RouteConfiguration', nameKey: 'name' },
  [VIRTUAL_HOST_TYPE]: { kind: 'VirtualHost', nameKey: 'name' },
  [CLUSTER_TYPE]: { kind: 'Cluster', nameKey: 'name' },
  [ENDPOINT_TYPE]: { kind: 'ClusterLoadAssignment', nameKey: 'cluster_name' },
  [SECRET_TYPE]: { kind: 'Secret', nameKey: 'name' },
};

/** The name of a decoded xDS resource (`cluster_name` for EDS), or `fallbackName`. */
export function resourceName(typeUrl: string, json: unknown, fallbackName: string): string {
  const n = isObj(json) ? json[KINDS[typeUrl]?.nameKey ?? 'name'] : undefined;
  return typeof n === 'string' && n !== '' ? n : fallbackName;
}

function run<T>(typeUrl: string, json: unknown, fallbackName: string, fn: (j: Json) => T): DecodeResult<T> {
  const kind = KINDS[typeUrl]?.kind ?? typeUrl;
  const name = resourceName(typeUrl, json, fallbackName);
  if (!isObj(json)) return err({ name, message: `${kind} ${name}: expected an object` });
  const t = json['@type'];
  if (t !== undefined && t !== typeUrl)
    return err({ name, message: `${kind} ${name}: @type: expected ${typeUrl}, got ${String(t)}` });
  try {
    return ok(deepFreeze(fn(json)));
  } catch (e) {
    if (e instanceof FieldError)
      return err({ name, message: `${kind} ${name}: ${e.path === '' ? '' : `${e.path}: `}${e.reason}` });
    return err({ name, message: `${kind} ${name}: ${e instanceof Error ? e.message : String(e)}` });
  }
}

export const decodeListenerResource = (json: unknown, fallbackName = '#0'): DecodeResult<ListenerConfig> =>
  run(LISTENER_TYPE, json, fallbackName, decodeListener);

export const decodeRouteConfigurationResource = (
  json: unknown,
  fallbackName = '#0',
): DecodeResult<RouteConfigurationConfig> =>
  run(ROUTE_TYPE, json, fallbackName, (j) => decodeRouteConfiguration(j));

export const decodeVirtualHostResource = (
  json: unknown,
  fallbackName = '#0',
): DecodeResult<VirtualHostConfig> => run(VIRTUAL_HOST_TYPE, json, fallbackName, (j) => decodeVirtualHost(j));

export const decodeClusterResource = (json: unknown, fallbackName = '#0'): DecodeResult<ClusterConfig> =>
  run(CLUSTER_TYPE, json, fallbackName, decodeCluster);

export const decodeClusterLoadAssignmentResource = (
  json: unknown,
  fallbackName = '#0',
): DecodeResult<ClusterEndpointsConfig> =>
  run(ENDPOINT_TYPE, json, fallbackName, (j) => decodeClusterLoadAssignment(j));

/** SDS: a gateway's HTTPS certificate (never logged: NACK messages name fields, not values). */
export const decodeSecretResource = (json: unknown, fallbackName = '#0'): DecodeResult<TlsSecretConfig> =>
  run(SECRET_TYPE, json, fallbackName, decodeTlsSecret);

/** The decoder for a type URL (undefined for types the proxy does not take). */
export function decoderFor(
  typeUrl: string,
): ((json: unknown, fallbackName?: string) => DecodeResult<unknown>) | undefined {
  switch (typeUrl) {
    case LISTENER_TYPE:
      return decodeListenerResource;
    case ROUTE_TYPE:
      return decodeRouteConfigurationResource;
    case VIRTUAL_HOST_TYPE:
      return decodeVirtualHostResource;
    case CLUSTER_TYPE:
      return decodeClusterResource;
    case ENDPOINT_TYPE:
      return decodeClusterLoadAssignmentResource;
    case SECRET_TYPE:
      return decodeSecretResource;
    default:
      return undefined;
  }
}
