// Errors with stable codes: tests and API clients match on `code`, people read `message`.

export type ErrorCode =
  'INVALID_CONFIG' | 'NOT_FOUND' | 'CONFLICT' | 'BAD_REQUEST' | 'STORE_FAILURE' | 'UNAVAILABLE' | 'INTERNAL';

export class TrellisError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TrellisError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
