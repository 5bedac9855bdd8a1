// WriteBatch: one write per flush (concatenated when small), corked writes when large, and its
// slots reused across flushes without leaking earlier parts.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { nextReadBuffer, readView } from '../io/read-buffer.js';
import { WriteBatch } from './write-batch.js';

function fakeSocket(ok = true) {
  const writes: string[] = [];
  const calls: string[] = [];
  const s = {
    write(b: Buffer) {
      writes.push(Buffer.from(b).toString('latin1'));
      calls.push('write');
      return ok;
    },
    cork() {
      calls.push('cork');
    },
    uncork() {
      calls.push('uncork');
    },
  };
  return { s: s as unknown as Socket, writes, calls };
}

describe('WriteBatch', () => {
  it('writes one part as is, several small ones as one concatenated write', () => {
    const { s, writes, calls } = fakeSocket();
    const w = new WriteBatch();
    assert.equal(w.empty, true);
    assert.equal(w.flush(s), true);
    w.push(Buffer.from('head '));
    w.push(Buffer.from('body'));
    assert.equal(w.empty, false);
    assert.equal(w.flush(s), true);
    assert.equal(w.empty, true);
    w.push(Buffer.from('next'));
    w.flush(s);
    assert.deepEqual(writes, ['head body', 'next']);
    assert.deepEqual(calls, ['write', 'write']);
  });

  it('corks large batches and writes the parts in order; reports backpressure', () => {
    const { s, writes, calls } = fakeSocket(false);
    const w = new WriteBatch();
    const big = 'x'.repeat(20_000);
    w.push(Buffer.from('a'));
    w.push(Buffer.from(big));
    w.push(Buffer.from('z'));
    assert.equal(w.flush(s), false);
    assert.deepEqual(writes, ['a', big, 'z']);
    assert.deepEqual(calls, ['cork', 'write', 'write', 'write', 'uncork']);
  });

  it('clear() drops what was collected; later batches carry none of it', () => {
    const { s, writes } = fakeSocket();
    const w = new WriteBatch();
    w.push(Buffer.from('one'));
    w.push(Buffer.from('two'));
    w.push(Buffer.from('three'));
    w.clear();
    assert.equal(w.empty, true);
    w.push(Buffer.from('four'));
    w.flush(s);
    w.push(Buffer.from('5'));
    w.push(Buffer.from('6'));
    w.flush(s);
    assert.deepEqual(writes, ['four', '56']);
  });

  it('never hands the socket a view of the shared read buffer (a queued write keeps its bytes)', () => {
    // A socket that keeps what it was given, as a write the kernel did not take at once does.
    const held: Buffer[] = [];
    const s = {
      write(b: Buffer) {
        held.push(b);
        return true;
      },
      cork() {},
      uncork() {},
    } as unknown as Socket;
    const shared = nextReadBuffer();
    const read = (text: string): Buffer => {
      shared.write(text, 'latin1');
      return readView(text.length, shared);
    };
    const w = new WriteBatch();
    // One part, written as is.
    w.push(read('first read'));
    w.flush(s);
    // Several small parts, concatenated.
    w.push(Buffer.from('head:'));
    w.push(read('second'));
    w.flush(s);
    // A large batch, corked part by part.
    const big = 'L'.repeat(20_000);
    w.push(Buffer.from('h'));
    w.push(read(big));
    w.flush(s);
    read('X'.repeat(30_000)); // the next read overwrites the buffer
    assert.deepEqual(
      held.map((b) => b.toString('latin1')),
      ['first read', 'head:second', 'h', big],
    );
    assert.ok(held.every((b) => b.buffer !== shared.buffer));
  });
});
