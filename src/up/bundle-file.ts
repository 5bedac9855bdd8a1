// The trust-bundle file `trellis up` hands to its sidecars and gateways (--ca-bundle,
// <data-dir>/ca/bundle.pem): written at start and again whenever the CA's trust bundle changes
// (a root rotation adds a root, and later drops the old one), so a sidecar started at any time,
// after the old root is gone included, verifies the control plane. Written atomically (a temp file
// renamed over it: a sidecar never reads half a bundle), mode 0644 (roots are public). Sidecars
// already running follow the bundle themselves (long poll); this file is for the ones that start.
import { writeFileAtomic } from '../security/ca-store.js';
import { errorMessage } from '../common/errors.js';

/** The part of the CA service the writer needs (CaService). */
export interface BundleSource {
  bundle(): { readonly trustBundlePem: string; readonly etag: string };
  watchBundle(
    etag: string,
    timeoutMs: number,
  ): Promise<{ readonly trustBundlePem: string; readonly etag: string }>;
}

export interface BundleFileWriter {
  /** Resolves once the file holds the bundle the CA had when the writer started. */
  readonly ready: Promise<void>;
  /** How many times the file was written (tests, logs). */
  writes(): number;
  /** Stops following the CA (the file stays). */
  close(): void;
}

/** Mode of the bundle file: the roots are public, every local user's sidecar may read them. */
export const BUNDLE_FILE_MODE = 0o644;

/**
 * Writes `source`'s trust bundle to `file` now and after every change, until close(). A failed
 * write is reported to `onError` and retried with the next change or after `retryMs`.
 */
export function keepBundleFile(
  source: BundleSource,
  file: string,
  opts: {
    readonly onError?: (message: string) => void;
    readonly retryMs?: number;
    /** The clock of the source (its watch timeouts run on it); default the system clock. */
    readonly clock?: { now(): number };
  } = {},
): BundleFileWriter {
  const clock = opts.clock ?? Date;
  let closed = false;
  let count = 0;
  let written: string | undefined;
  const retryMs = opts.retryMs ?? 5000;
  const write = async (pem: string): Promise<boolean> => {
    if (pem === written) return true;
    try {
      await writeFileAtomic(file, pem, BUNDLE_FILE_MODE);
      written = pem;
      count++;
      return true;
    } catch (e) {
      opts.onError?.(`cannot write the trust bundle to ${file}: ${errorMessage(e)}`);
      return false;
    }
  };
  let b = source.bundle();
  const ready = write(b.trustBundlePem).then(() => undefined);
  void (async () => {
    await ready;
    while (!closed) {
      // A write that failed is tried again soon, even if the bundle does not change.
      const wait = written === b.trustBundlePem ? 30_000 : retryMs;
      const started = clock.now();
      const next = await source.watchBundle(b.etag, wait);
      if (closed) return;
      // The same bundle well before the wait is over: the CA closed (it answers at once then).
      if (next.etag === b.etag && clock.now() - started < Math.min(1000, wait / 2)) return;
      await write(next.trustBundlePem);
      b = next;
    }
  })();
  return {
    ready,
    writes: () => count,
    close: () => {
      closed = true;
    },
  };
}
