// Protocol dispatch on a listener: sniff the first bytes for the HTTP/2 prior-knowledge preface
// (bounded wait); h2 connections go to the listener's node:http2 server, everything else to HTTP/1.1.
import type { Socket } from 'node:net';
import type { ListenerConnection } from '../listener/h1-listener.js';
import type { ListenerLimits } from '../listener/limits.js';
import { protocolHandlers } from '../listener/protocol-handlers.js';
import type { ListenerContext } from '../pipeline/types.js';
import { h2ServerFor } from './h2-server.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The listener as the dispatcher sees it (H1Listener implements it). */
export interface ListenerHost {
  readonly context: ListenerContext;
  readonly limits: ListenerLimits;
  startH1(socket: Socket): void;
  adopt(conn: ListenerConnection): void;
  onClosed(conn: ListenerConnection): void;
}

/** Detecting listeners (listener.ts) hand h2 connections here too; the preface is unshifted back. */
protocolHandlers.h2 ??= (socket: Socket, host: ListenerHost): void => h2ServerFor(host).accept(socket);

/** 'h2' when `buf` starts with the preface, 'h1' when it cannot, 'more' when it is a strict prefix of it. */
export function classifyPreface(buf: Buffer): 'h2' | 'h1' | 'more' {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return 'h1';
  return buf.length >= PREFACE.length ? 'h2' : 'more';
}

/** A socket still being sniffed: tracked so drain/close end it (it has no request in progress). */
class Sniffing implements ListenerConnection {
  constructor(readonly socket: Socket) {}
  startDrain(): void {
    this.socket.destroy();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

export function dispatchConnection(socket: Socket, host: ListenerHost): void {
  const sniff = new Sniffing(socket);
  host.adopt(sniff);
  let got: Buffer | null = null;
  let done = false;
  const finish = (kind: 'h1' | 'h2'): void => {
    done = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.removeListener('error', onError);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (got !== null) socket.unshift(got);
    host.onClosed(sniff);
    if (kind === 'h2') {
      h2ServerFor(host).accept(socket);
    } else {
      host.startH1(socket);
      socket.resume();
    }
  };
  const onData = (buf: Buffer): void => {
    got = got === null ? buf : Buffer.concat([got, buf]);
    const k = classifyPreface(got);
    if (k !== 'more') finish(k);
  };
  const onClose = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    host.onClosed(sniff);
  };
  const onError = (): void => {
    socket.destroy();
  };
  // The client half-closed before saying which protocol (nothing, or a prefix of the h2
  // preface): there is no complete request to answer, so close now rather than at the timeout.
  const onEnd = (): void => {
    if (!done) socket.destroy();
  };
  // A client that sends a prefix of the preface and stalls is handed to HTTP/1.1, whose parser
  // rejects `PRI` and whose request-headers timeout ends it.
  const timer = setTimeout(() => {
    if (!done) finish('h1');
  }, host.limits.h2.prefaceTimeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', onError);
  socket.on('end', onEnd);
}
