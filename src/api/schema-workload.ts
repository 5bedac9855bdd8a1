// zod schema of a Workload document (trellis.dev/v1alpha1) and its defaulted WorkloadResource: a
// process `trellis up` runs `replicas` times, each replica next to its own sidecar (or, `proxyless`,
// its own `trellis grpc-agent`). The control plane stores Workloads like any resource (so
// `trellis scale` is an apply); translate ignores them.
import { z } from 'zod';
import { buildMetadata } from './build-service.js';
import { absolutePathError } from './formats.js';
import {
  dnsLabel,
  duration,
  fail,
  intIn,
  labels,
  list,
  metadataSchema,
  port,
  str,
  strict,
  stringMap,
} from './schema-common.js';
import type { WorkloadResource, WorkloadUpstreamConfig } from './types.js';
import { TRELLIS_API_VERSION } from './types.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envNameError = (k: string): string | undefined =>
  ENV_NAME.test(k) ? undefined : 'must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)';
const UPSTREAM_SERVICE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;

const upstream = strict({
  service: str((v) =>
    UPSTREAM_SERVICE.test(v) ? undefined : 'must be a Service name, `name` or `name.namespace`',
  ),
  port: port().optional(),
  env: str(envNameError).optional(),
});

const probe = strict({
  httpGet: strict({ path: str(absolutePathError) }).optional(),
  period: duration().optional(),
  timeout: duration().optional(),
});

export const workloadSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('Workload'),
  metadata: metadataSchema(dnsLabel),
  spec: strict({
    service: dnsLabel(),
    command: z.union([
      z.string().superRefine((v, ctx) => {
        if (v.trim() === '') fail(ctx, 'invalid_value', 'command must not be empty');
      }),
      list(z.string(), 256).superRefine((a, ctx) => {
        if (a.length === 0 || a[0] === '')
          fail(ctx, 'invalid_value', 'command needs at least the program, e.g. [node, server.mjs]');
      }),
    ]),
    workingDir: z.string().optional(),
    env: stringMap(envNameError).optional(),
    port: port().optional(),
    labels: labels().optional(),
    replicas: intIn(0, 64).optional(),
    readinessProbe: probe.optional(),
    upstreams: list(upstream, 64).optional(),
    proxyless: z.boolean().optional(),
  }).superRefine((s, ctx) => {
    if (s.proxyless === true && (s.upstreams ?? []).length > 0)
      fail(
        ctx,
        'invalid_value',
        'a proxyless gRPC Workload has no sidecar to give it upstream ports: it dials xds:///SERVICE itself; drop upstreams or proxyless',
        ['upstreams'],
      );
    if (s.proxyless === true && s.readinessProbe?.httpGet !== undefined)
      fail(
        ctx,
        'invalid_value',
        'a proxyless gRPC Workload is ready when its gRPC port accepts connections (its XdsServer binds once it has its config); drop httpGet',
        ['readinessProbe', 'httpGet'],
      );
    if (s.port !== undefined && (s.replicas ?? 1) > 1)
      fail(ctx, 'invalid_value', 'a fixed port allows one replica; omit port and read $PORT to run several', [
        'port',
      ]);
  }),
});

export type WorkloadDoc = z.output<typeof workloadSchema>;

/** `reviews.shop` -> `REVIEWS_SHOP_ADDR`. */
export const defaultUpstreamEnv = (service: string): string =>
  `${service.replace(/[-.]/g, '_').toUpperCase()}_ADDR`;

export function buildWorkload(doc: WorkloadDoc): WorkloadResource {
  const s = doc.spec;
  return {
    apiVersion: TRELLIS_API_VERSION,
    kind: 'Workload',
    metadata: buildMetadata(doc.metadata),
    spec: {
      service: s.service,
      command: typeof s.command === 'string' ? ['/bin/sh', '-c', s.command] : [...s.command],
      ...(s.workingDir !== undefined && { workingDir: s.workingDir }),
      env: { ...s.env },
      ...(s.port !== undefined && { port: s.port }),
      labels: { ...s.labels },
      replicas: s.replicas ?? 1,
      readinessProbe: {
        ...(s.readinessProbe?.httpGet !== undefined && { httpPath: s.readinessProbe.httpGet.path }),
        periodMs: s.readinessProbe?.period ?? 1000,
        timeoutMs: s.readinessProbe?.timeout ?? 1000,
      },
      upstreams: (s.upstreams ?? []).map((u): WorkloadUpstreamConfig => ({
        service: u.service,
        ...(u.port !== undefined && { port: u.port }),
        env: u.env ?? defaultUpstreamEnv(u.service),
      })),
      ...(s.proxyless === true && { proxyless: true as const }),
    },
  };
}

export function workloadToDocument(r: WorkloadResource): Record<string, unknown> {
  const s = r.spec;
  return {
    service: s.service,
    command: [...s.command],
    ...(s.workingDir !== undefined && { workingDir: s.workingDir }),
    ...(Object.keys(s.env).length > 0 && { env: { ...s.env } }),
    ...(s.port !== undefined && { port: s.port }),
    ...(Object.keys(s.labels).length > 0 && { labels: { ...s.labels } }),
    replicas: s.replicas,
    readinessProbe: {
      ...(s.readinessProbe.httpPath !== undefined && { httpGet: { path: s.readinessProbe.httpPath } }),
      period: `${s.readinessProbe.periodMs}ms`,
      timeout: `${s.readinessProbe.timeoutMs}ms`,
    },
    ...(s.upstreams.length > 0 && {
      upstreams: s.upstreams.map((u) => ({
        service: u.service,
        ...(u.port !== undefined && { port: u.port }),
        env: u.env,
      })),
    }),
    ...(s.proxyless === true && { proxyless: true }),
  };
}
