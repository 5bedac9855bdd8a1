// Rapid-reset accounting (CVE-2023-44487) for one mesh HTTP/2 connection (server side).
//
// One connection carries all of a peer sidecar's traffic, so counting every reset against a fixed
// per-connection budget (200 per 10 s, as for node:http2 sessions) closes the connection whenever
// that peer's clients cancel a lot — client-side timeouts under load — and every one of its
// in-flight requests with it. Like Envoy's premature-reset check, a reset here only counts when it
// is *premature* (the stream lived less than `prematureMs`) and the connection is closed only when
// premature resets are both past the limit and the majority of the streams that ended in the
// window. A flood of open-then-reset streams trips it at once (nearly every stream is a premature
// reset); a peer that completes at least one stream for each stream it cancels early never does,
// and a stream cancelled after `prematureMs` held a slot of MAX_CONCURRENT_STREAMS for that long,
// so it can't be used to flood either.

/** A reset of a stream younger than this counts as premature (Envoy's default: 1 s). */
export const PREMATURE_MS = 1000;

export class ResetBudget {
  private premature = 0;
  private others = 0;
  private windowStart = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly prematureMs = PREMATURE_MS,
  ) {}

  private roll(now: number): void {
    if (now - this.windowStart <= this.windowMs) return;
    this.windowStart = now;
    this.premature = 0;
    this.others = 0;
  }

  /** A stream ended without a reset by the peer (or was reset by it after prematureMs). */
  completed(now: number): void {
    this.roll(now);
    this.others++;
  }

  /**
   * The peer reset a stream opened at `openedAt` before its response ended. True when the
   * connection must close: premature resets past the limit and more than half of what ended.
   */
  reset(now: number, openedAt: number): boolean {
    this.roll(now);
    if (now - openedAt >= this.prematureMs) {
      this.others++;
      return false;
    }
    return ++this.premature > this.limit && this.premature > this.others;
  }
}
