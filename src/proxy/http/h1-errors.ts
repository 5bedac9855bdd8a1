// Typed HTTP/1 codec errors: a stable code, the status the proxy should answer with, and the rule
// that after any parse error the connection must be closed (the framing can no longer be trusted).

/** Stable codes with the status a server answers when a *request* fails this way. */
export const H1_REQUEST_STATUS = {
  H1_INVALID_METHOD: 400,
  H1_INVALID_TARGET: 400,
  H1_URI_TOO_LONG: 414,
  H1_INVALID_VERSION: 400,
  H1_UNSUPPORTED_VERSION: 505,
  H1_INVALID_STATUS_LINE: 502,
  H1_BARE_LF: 400,
  H1_BARE_CR: 400,
  H1_INVALID_HEADER_NAME: 400,
  H1_WHITESPACE_BEFORE_COLON: 400,
  H1_OBS_FOLD: 400,
  H1_INVALID_HEADER_VALUE: 400,
  H1_HEADERS_TOO_LARGE: 431,
  H1_TOO_MANY_HEADERS: 431,
  H1_MISSING_HOST: 400,
  H1_DUPLICATE_HOST: 400,
  H1_INVALID_HOST: 400,
  H1_HOST_MISMATCH: 400,
  H1_INVALID_CONTENT_LENGTH: 400,
  H1_CONFLICTING_LENGTH: 400,
  H1_DUPLICATE_CONTENT_LENGTH: 400,
  H1_CL_WITH_TE: 400,
  H1_TE_NOT_CHUNKED_FINAL: 400,
  H1_INVALID_TRANSFER_ENCODING: 400,
  H1_UNKNOWN_TRANSFER_CODING: 501,
  H1_TE_IN_HTTP10: 400,
  H1_INVALID_CHUNK_SIZE: 400,
  H1_CHUNK_TOO_LARGE: 413,
  H1_CHUNK_EXTENSION_TOO_LONG: 400,
  H1_INVALID_CHUNK: 400,
  H1_UPGRADE_WITH_BODY: 400,
  H1_INCOMPLETE_MESSAGE: 400,
} as const;

export type H1ErrorCode = keyof typeof H1_REQUEST_STATUS;
export type H1Side = 'request' | 'response';

/**
 * Thrown by the parser for any malformed, hostile or over-limit input. `status` is what the proxy
 * answers downstream: the code's 4xx/5xx for a bad request, always 502 for a bad upstream response.
 * `closeConnection` is always true: once framing is in doubt no later byte on the socket is trusted.
 */
export class H1ParseError extends Error {
  readonly status: number;
  readonly closeConnection = true as const;
  constructor(
    readonly code: H1ErrorCode,
    readonly side: H1Side,
    detail: string,
  ) {
    super(`${code}: ${detail} (HTTP/1 ${side} rejected; the connection must be closed after answering)`);
    this.name = 'H1ParseError';
    this.status = side === 'request' ? H1_REQUEST_STATUS[code] : 502;
  }
}
