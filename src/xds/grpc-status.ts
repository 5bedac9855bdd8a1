// gRPC status errors shaped like grpc-js's, for the hand-written ADS client
// (../proxy/xds-client/ads-wire-client.ts, on the sidecar's own HTTP/2 wire layer).

const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** An error shaped like grpc-js's: `14 UNAVAILABLE: details`, with `code`. */
export function grpcStatusError(code: number, details: string): Error & { code: number } {
  const err = new Error(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`) as Error & { code: number };
  err.code = code;
  return err;
}
