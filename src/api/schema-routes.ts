// zod schemas of HTTPRoute and GRPCRoute documents (gateway.networking.k8s.io/v1), field for field
// as in the Gateway API. Cross-field checks (filter type vs field, regexes) are in checks-routes.ts.
import { z } from 'zod';
import { absolutePathError, hostnameError } from './formats.js';
import {
  backendRefSchema,
  dnsSubdomain,
  duration,
  fail,
  headerMatchSchema,
  headerModifierSchema,
  intIn,
  list,
  metadataSchema,
  oneOf,
  parentRefSchema,
  port,
  requestMirrorSchema,
  sectionName,
  str,
  strict,
  unsupported,
} from './schema-common.js';

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
] as const;
export const HTTP_FILTER_TYPES = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'URLRewrite',
  'RequestRedirect',
  'RequestMirror',
  'ExtensionRef',
] as const;
export const GRPC_FILTER_TYPES = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestMirror',
  'ExtensionRef',
] as const;
export const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;
/** gRPC statuses a GRPCRoute retry may name (what Envoy's retry_on and proxyless gRPC both know). */
export const GRPC_RETRY_CODES = [
  'CANCELLED',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
  'RESOURCE_EXHAUSTED',
  'UNAVAILABLE',
] as const;
export const MAX_RETRY_ATTEMPTS = 10;

/** A retry backoff: a GEP-2257 duration from 1ms to 1m (Envoy needs a base interval > 0). */
const backoff = () =>
  duration().superRefine((ms, ctx) => {
    if (ms < 1 || ms > 60_000) fail(ctx, 'invalid_value', `must be from 1ms to 1m; got ${ms} ms`);
  });

/** GEP-1731 `retry`: HTTP status codes 400..599 (the Gateway API's bounds), attempts, backoff. */
const httpRetry = strict({
  codes: list(intIn(400, 599), 100).optional(),
  attempts: intIn(0, MAX_RETRY_ATTEMPTS).optional(),
  backoff: backoff().optional(),
});

/** Trellis extension: the same shape on GRPCRoute rules, with gRPC status names as codes. */
const grpcRetry = strict({
  codes: list(oneOf(GRPC_RETRY_CODES, 'gRPC retry code'), 5).optional(),
  attempts: intIn(0, MAX_RETRY_ATTEMPTS).optional(),
  backoff: backoff().optional(),
});

const BACKEND_FILTERS_WHY =
  'per-backend filters are not supported by Trellis yet; put the filter in the rule\'s "filters"';
const EXTENSION_WHY = 'ExtensionRef filters are not supported by Trellis';
const SESSION_WHY = 'sessionPersistence is not supported by Trellis yet';

const pathModifier = () =>
  strict({
    type: oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, 'path modifier type'),
    replaceFullPath: str(absolutePathError).optional(),
    replacePrefixMatch: str(absolutePathError).optional(),
  });

const preciseHostname = () => str((v) => hostnameError(v, false));

const redirect = strict({
  scheme: oneOf(['http', 'https'] as const, 'scheme').optional(),
  hostname: preciseHostname().optional(),
  path: pathModifier().optional(),
  port: port().optional(),
  statusCode: z
    .number()
    .superRefine((n, ctx) => {
      if (!(REDIRECT_CODES as readonly number[]).includes(n))
        ctx.addIssue({
          code: 'custom',
          message: `must be one of ${REDIRECT_CODES.join(', ')}; got ${n}`,
          params: { code: 'invalid_value' },
        });
    })
    .optional(),
});

const httpFilter = strict({
  type: oneOf(HTTP_FILTER_TYPES, 'filter type'),
  requestHeaderModifier: headerModifierSchema().optional(),
  responseHeaderModifier: headerModifierSchema().optional(),
  urlRewrite: strict({ hostname: preciseHostname().optional(), path: pathModifier().optional() }).optional(),
  requestRedirect: redirect.optional(),
  requestMirror: requestMirrorSchema().optional(),
  extensionRef: unsupported(EXTENSION_WHY),
});

const httpMatch = strict({
  path: strict({
    type: oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const, 'path match type').optional(),
    value: z.string().optional(),
  }).optional(),
  headers: list(headerMatchSchema(), 16).optional(),
  queryParams: list(headerMatchSchema(), 16).optional(),
  method: oneOf(HTTP_METHODS, 'method').optional(),
});

const httpRule = strict({
  name: sectionName().optional(),
  matches: list(httpMatch, 64).optional(),
  filters: list(httpFilter, 16).optional(),
  backendRefs: list(backendRefSchema(BACKEND_FILTERS_WHY), 16).optional(),
  timeouts: strict({ request: duration().optional(), backendRequest: duration().optional() }).optional(),
  retry: httpRetry.optional(),
  sessionPersistence: unsupported(SESSION_WHY),
});

const hostnames = () =>
  list(
    str((v) => hostnameError(v)),
    16,
  );

export const httpRouteSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('HTTPRoute'),
  metadata: metadataSchema(dnsSubdomain),
  spec: strict({
    parentRefs: list(parentRefSchema(), 32).optional(),
    hostnames: hostnames().optional(),
    rules: list(httpRule, 16).optional(),
  }),
});

const grpcFilter = strict({
  type: oneOf(GRPC_FILTER_TYPES, 'filter type'),
  requestHeaderModifier: headerModifierSchema().optional(),
  responseHeaderModifier: headerModifierSchema().optional(),
  requestMirror: requestMirrorSchema().optional(),
  extensionRef: unsupported(EXTENSION_WHY),
});

const grpcMatch = strict({
  method: strict({
    type: oneOf(['Exact', 'RegularExpression'] as const, 'method match type').optional(),
    service: z.string().optional(),
    method: z.string().optional(),
  }).optional(),
  headers: list(headerMatchSchema(), 16).optional(),
});

const grpcRule = strict({
  name: sectionName().optional(),
  matches: list(grpcMatch, 8).optional(),
  filters: list(grpcFilter, 16).optional(),
  backendRefs: list(backendRefSchema(BACKEND_FILTERS_WHY), 16).optional(),
  retry: grpcRetry.optional(),
  sessionPersistence: unsupported(SESSION_WHY),
});

export const grpcRouteSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('GRPCRoute'),
  metadata: metadataSchema(dnsSubdomain),
  spec: strict({
    parentRefs: list(parentRefSchema(), 32).optional(),
    hostnames: hostnames().optional(),
    rules: list(grpcRule, 16).optional(),
  }),
});

export type HTTPRouteDoc = z.output<typeof httpRouteSchema>;
export type GRPCRouteDoc = z.output<typeof grpcRouteSchema>;
export type HTTPFilterSpec = z.output<typeof httpFilter>;
export type PathModifierSpec = z.output<ReturnType<typeof pathModifier>>;
export type HTTPRetrySpec = z.output<typeof httpRetry>;
export type GRPCRetrySpec = z.output<typeof grpcRetry>;
