// zod schema of a Service document (trellis.dev/v1alpha1): ports, static endpoints, subsets.
// Structure and single-field checks only; cross-field checks are in checks-service.ts.
import { z } from 'zod';
import { addressError, dnsLabelError } from './formats.js';
import { dnsLabel, intIn, labels, list, metadataSchema, oneOf, port, str, strict } from './schema-common.js';

export const PORT_PROTOCOLS = ['http', 'http2', 'grpc', 'tcp'] as const;

const servicePort = strict({
  name: dnsLabel().optional(),
  port: port(),
  protocol: oneOf(PORT_PROTOCOLS, 'protocol').optional(),
  targetPort: port().optional(),
});

const endpoint = strict({
  address: str(addressError),
  port: port().optional(),
  ports: z
    .record(z.string(), port())
    .superRefine((m, ctx) => {
      for (const k of Object.keys(m)) {
        const problem = dnsLabelError(k);
        if (problem !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: `keys are service port names, which ${problem}`,
            params: { code: 'invalid_value' },
          });
      }
    })
    .optional(),
  labels: labels().optional(),
  weight: intIn(1, 1_000_000).optional(),
  mtls: z.boolean({ message: 'mtls must be true or false' }).optional(),
});

const subset = strict({ name: dnsLabel(), labels: labels().optional() });

export const serviceSchema = strict({
  apiVersion: z.unknown(),
  kind: z.literal('Service'),
  metadata: metadataSchema(dnsLabel),
  spec: strict({
    ports: list(servicePort, 64).superRefine((a, ctx) => {
      if (a.length === 0)
        ctx.addIssue({
          code: 'custom',
          message: 'a Service needs at least one port, e.g. [{port: 8080, protocol: http}]',
          params: { code: 'invalid_value' },
        });
    }),
    endpoints: list(endpoint, 10_000).optional(),
    subsets: list(subset, 64).optional(),
  }),
});

export type ServiceDocSpec = z.output<typeof serviceSchema>;
