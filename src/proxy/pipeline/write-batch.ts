// Collects the bytes one socket event produces for a peer (head + body, chunk framing) and writes
// them with one write() (small: one copy, no writev), so a small exchange costs one syscall per hop.
import type { Socket } from 'node:net';

const CONCAT_MAX = 16 * 1024;

export class WriteBatch {
  private readonly parts: Buffer[] = [];
  private len = 0;

  get empty(): boolean {
    return this.parts.length === 0;
  }

  push(b: Buffer): void {
    this.parts.push(b);
    this.len += b.length;
  }

  /** Writes what was collected; false when the socket asks the writer to wait for 'drain'. */
  flush(s: Socket): boolean {
    const p = this.parts;
    const n = p.length;
    if (n === 0) return true;
    let ok: boolean;
    if (n === 1) ok = s.write(p[0] as Buffer);
    else if (this.len <= CONCAT_MAX) ok = s.write(Buffer.concat(p, this.len));
    else {
      s.cork();
      for (let i = 0; i < n - 1; i++) s.write(p[i] as Buffer);
      ok = s.write(p[n - 1] as Buffer);
      s.uncork();
    }
    p.length = 0;
    this.len = 0;
    return ok;
  }

  clear(): void {
    this.parts.length = 0;
    this.len = 0;
  }
}
