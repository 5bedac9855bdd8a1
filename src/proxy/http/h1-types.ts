// Parsed HTTP/1 message heads, the body framing derived from them, and the parser's limits.

/**
 * How the body that follows a head is delimited. `until-close` only occurs for responses;
 * `upgrade` means the HTTP message ends with the head and the connection may switch protocols
 * (Upgrade + Connection: upgrade, CONNECT, 101, 2xx to CONNECT): the parser pauses there.
 */
export type H1Framing = 'none' | 'content-length' | 'chunked' | 'until-close' | 'upgrade';

export type H1TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

interface H1HeadCommon {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 (other versions are rejected). */
  readonly versionMinor: 0 | 1;
  /** Flat [name0, value0, name1, value1, ...]; names lower-cased, values OWS-trimmed, latin1. */
  readonly headers: string[];
  readonly framing: H1Framing;
  /** The declared Content-Length when framing is 'content-length', else -1. */
  readonly contentLength: number;
  /** Whether the connection may carry another message after this one (version + Connection). */
  readonly keepAlive: boolean;
  /**
   * Lower-cased tokens of Connection (hop-by-hop names to drop when forwarding), or null. Read
   * only: a plain `keep-alive` or `close` is a shared, frozen list.
   */
  readonly connectionTokens: string[] | null;
  /** The Upgrade header value, when present. */
  readonly upgrade: string | null;
}

export interface H1RequestHead extends H1HeadCommon {
  readonly kind: 'request';
  readonly method: string;
  /** The request-target exactly as received. */
  readonly target: string;
  readonly targetForm: H1TargetForm;
  /** 'http' / 'https' for absolute-form targets, else null. */
  readonly scheme: string | null;
  /** Effective authority: the target's for absolute/authority form, else the Host header ('' if none). */
  readonly authority: string;
  /** origin-form path + query to send upstream ('/...'), the authority for CONNECT, '*' for asterisk. */
  readonly path: string;
  /** Expect: 100-continue was sent. */
  readonly expectContinue: boolean;
  /** TE: trailers was sent (the only TE value forwarded). */
  readonly teTrailers: boolean;
}

export interface H1ResponseHead extends H1HeadCommon {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
}

export type H1Head = H1RequestHead | H1ResponseHead;

/** Receives parse events. Body chunks are zero-copy views of the buffers passed to execute(). */
export interface H1Handler {
  onHead(head: H1Head): void;
  onBody(chunk: Buffer): void;
  /** End of message; trailers (flat name/value list) when a chunked body carried any, else null. */
  onEnd(trailers: string[] | null): void;
}

export interface H1Limits {
  /** Bytes of the whole head (start line + fields + CRLFs), and separately of a trailer section → 431. */
  readonly maxHeaderBytes: number;
  /** Field lines per head / trailer section → 431 (never silently truncated: CVE-2026-58044). */
  readonly maxHeaderCount: number;
  /** Bytes of the request line (status line for responses) → 414. */
  readonly maxRequestLineBytes: number;
  /** Bytes of chunk extensions on one chunk-size line → 400. */
  readonly maxChunkExtensionBytes: number;
  /** Largest chunk-size accepted → 413. */
  readonly maxChunkSize: number;
}

export const DEFAULT_H1_LIMITS: H1Limits = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 100,
  maxRequestLineBytes: 8 * 1024,
  maxChunkExtensionBytes: 1024,
  maxChunkSize: 2 ** 32 - 1,
});
