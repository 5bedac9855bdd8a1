// Codecs for envoy.service.discovery.v3.DiscoveryRequest/DiscoveryResponse: requests as plain
// objects (node metadata as plain JSON), responses built from already-encoded Any resources.
import protobuf from 'protobufjs';
import { type EncodedAny, type JsonObject, encodeMessage, messageToJson } from './any.js';
import { messageType } from './proto-root.js';

const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';

export interface XdsNode {
  readonly id?: string;
  readonly cluster?: string;
  /** google.protobuf.Struct as plain JSON. */
  readonly metadata?: JsonObject;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly client_features?: readonly string[];
  readonly [key: string]: unknown;
}

export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node?: XdsNode;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  /** Set on a NACK (google.rpc.Status). */
  readonly error_detail?: { readonly code: number; readonly message: string };
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly EncodedAny[];
  readonly control_plane?: { readonly identifier: string };
}

/** Decodes DiscoveryRequest bytes into a plain object (absent strings as ''). */
export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  const type = messageType(REQUEST);
  const o = messageToJson(type, type.decode(bytes));
  const err = o['error_detail'] as { code?: number; message?: string } | undefined;
  return {
    version_info: (o['version_info'] as string | undefined) ?? '',
    ...(o['node'] ? { node: o['node'] as XdsNode } : {}),
    resource_names: (o['resource_names'] as string[] | undefined) ?? [],
    type_url: (o['type_url'] as string | undefined) ?? '',
    response_nonce: (o['response_nonce'] as string | undefined) ?? '',
    ...(err ? { error_detail: { code: err.code ?? 0, message: err.message ?? '' } } : {}),
  };
}

/** Encodes a DiscoveryRequest (strictly checked; node metadata given as plain JSON). */
export function encodeDiscoveryRequest(req: Partial<DiscoveryRequest>): Buffer {
  return Buffer.from(encodeMessage(REQUEST, req as JsonObject));
}

/**
 * Encodes a DiscoveryResponse around pre-encoded Any resources (no re-encoding of resources).
 * Field numbers from discovery.proto: version_info 1, resources 2, type_url 4, nonce 5,
 * control_plane 6 (identifier 1); Any: type_url 1, value 2.
 */
export function encodeDiscoveryResponse(res: DiscoveryResponse): Buffer {
  const w = protobuf.Writer.create();
  if (res.version_info) w.uint32(10).string(res.version_info);
  for (const r of res.resources) {
    w.uint32(18).fork().uint32(10).string(r.type_url).uint32(18).bytes(r.value).ldelim();
  }
  if (res.type_url) w.uint32(34).string(res.type_url);
  if (res.nonce) w.uint32(42).string(res.nonce);
  if (res.control_plane) w.uint32(50).fork().uint32(10).string(res.control_plane.identifier).ldelim();
  return Buffer.from(w.finish());
}

/** Decodes DiscoveryResponse bytes, leaving resources packed (decode each with decodeResource). */
export function decodeDiscoveryResponse(bytes: Uint8Array): DiscoveryResponse {
  const msg = messageType(RESPONSE).decode(bytes) as unknown as {
    version_info?: string;
    type_url?: string;
    nonce?: string;
    resources?: { type_url?: string; value?: Uint8Array }[];
    control_plane?: { identifier?: string } | null;
  };
  return {
    version_info: msg.version_info ?? '',
    type_url: msg.type_url ?? '',
    nonce: msg.nonce ?? '',
    resources: (msg.resources ?? []).map((r) => ({
      type_url: r.type_url ?? '',
      value: Buffer.from(r.value ?? new Uint8Array()),
    })),
    ...(msg.control_plane ? { control_plane: { identifier: msg.control_plane.identifier ?? '' } } : {}),
  };
}
