// An HTTP-only listener: each accepted socket is checked for the HTTP/2 preface (h2-dispatch.ts),
// then runs HTTP/1.1 or an HTTP/2 session; tracking, drain and close are in ListenerBase.
import type { Socket } from 'node:net';
import { dispatchConnection } from '../h2/h2-dispatch.js';
import { ListenerBase } from './listener-base.js';
import type { HandledConnection } from './protocol-handlers.js';

/** What a listener tracks per connection, whatever its protocol (drain / close). */
export type ListenerConnection = HandledConnection;

export class H1Listener extends ListenerBase {
  protected onConnection(socket: Socket): void {
    dispatchConnection(socket, this);
  }
}
