// Collects the bytes one socket event produces for a peer (head + body, chunk framing) and writes
// them with one write() (small: one copy, no writev), so a small exchange costs one syscall per hop.
// Parts may be views of the shared read buffer (../io/read-buffer.ts: body bytes parsed in place),
// pushed and flushed within one read callback. A part written as is is copied first when it is
// such a view: a write the kernel does not take at once keeps pointing at its bytes, and the next
// read would overwrite them. (Concatenated parts are copied anyway.)
import type { Socket } from 'node:net';
import { keep } from '../io/read-buffer.js';

const CONCAT_MAX = 16 * 1024;

export class WriteBatch {
  // The slots are kept between flushes (`length = 0` would drop the array's storage, and the next
  // push allocate it again: twice per proxied request); `n` of them are in use.
  private readonly parts: (Buffer | null)[] = [];
  private n = 0;
  private len = 0;

  get empty(): boolean {
    return this.n === 0;
  }

  push(b: Buffer): void {
    this.parts[this.n++] = b;
    this.len += b.length;
  }

  /** Writes what was collected; false when the socket asks the writer to wait for 'drain'. */
  flush(s: Socket): boolean {
    const p = this.parts;
    const n = this.n;
    if (n === 0) return true;
    // Emptied before writing: a write can call back into the owner (an 'error' emitted at once).
    this.n = 0;
    const len = this.len;
    this.len = 0;
    let ok: boolean;
    if (n === 1) {
      const b = keep(p[0] as Buffer);
      p[0] = null;
      ok = s.write(b);
    } else if (len <= CONCAT_MAX) {
      const all = Buffer.allocUnsafe(len);
      let o = 0;
      for (let i = 0; i < n; i++) {
        const b = p[i] as Buffer;
        p[i] = null;
        all.set(b, o); // TypedArray set: no Buffer.copy argument checks
        o += b.length;
      }
      ok = s.write(all);
    } else {
      const bs = p.slice(0, n) as Buffer[];
      for (let i = 0; i < n; i++) {
        bs[i] = keep(bs[i] as Buffer);
        p[i] = null;
      }
      s.cork();
      for (let i = 0; i < n - 1; i++) s.write(bs[i] as Buffer);
      ok = s.write(bs[n - 1] as Buffer);
      s.uncork();
    }
    return ok;
  }

  clear(): void {
    for (let i = 0; i < this.n; i++) this.parts[i] = null;
    this.n = 0;
    this.len = 0;
  }
}
