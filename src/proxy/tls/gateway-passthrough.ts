// TLS passthrough on an ingress gateway's protocol TLS port (a listener whose config has tls.mode
// 'passthrough'): the ClientHello is read, not answered: its SNI picks the chain (exact server
// name, then the longest *.suffix, then a chain without server_names; none: the connection is
// closed), the chain's weights pick a cluster, and tcp_proxy sends the ClientHello and every byte
// after it to that cluster's endpoint as they came. The backend terminates TLS with its own
// certificate. Anything that is not a TLS ClientHello within the timeout is closed.
import type { Socket } from 'node:net';
import {
  passthroughChainFor,
  type PassthroughListenerTlsConfig,
} from '../config/decode-gateway-passthrough.js';
import type { TcpProxyConfig } from '../config/types.js';
import type { HandledConnection, ProtocolHost } from '../listener/protocol-handlers.js';
import { readClientHello } from './client-hello.js';

/** How long a client has to send its ClientHello. */
export const PASSTHROUGH_HELLO_TIMEOUT_MS = 10_000;

/** A listener able to run tcp_proxy with a given config (listener/listener.ts's Listener). */
export interface PassthroughHost extends ProtocolHost {
  acceptTcp?(socket: Socket, head: Buffer | null, config: TcpProxyConfig): void;
}

/** A connection whose ClientHello is still being read. */
class Reading implements HandledConnection {
  cancel: () => void = () => undefined;
  constructor(private readonly socket: Socket) {}
  startDrain(): void {
    this.destroy();
  }
  destroy(): void {
    this.cancel();
    this.socket.destroy();
  }
}

export function acceptPassthrough(
  host: PassthroughHost,
  socket: Socket,
  cfg: PassthroughListenerTlsConfig,
): void {
  const log = host.context.plane.logger;
  const remote = socket.remoteAddress;
  const refuse = (why: string): void => {
    log.info({ listener: host.context.name, remote, reason: why }, 'TLS passthrough connection refused');
    socket.destroy();
  };
  const pending = new Reading(socket);
  host.adopt(pending);
  const closed = (): void => host.onClosed(pending);
  socket.once('close', closed);
  pending.cancel = readClientHello(socket, PASSTHROUGH_HELLO_TIMEOUT_MS, (r) => {
    socket.removeListener('close', closed);
    host.onClosed(pending);
    if (!r.ok) return refuse(r.why);
    const chain = passthroughChainFor(cfg.chains, r.serverName);
    if (chain === undefined)
      return refuse(`no TLSRoute for server name ${JSON.stringify(r.serverName ?? '')}`);
    let n = Math.random() * chain.totalWeight;
    let cluster = chain.clusters[chain.clusters.length - 1]?.name ?? '';
    for (const c of chain.clusters) {
      if (n < c.weight) {
        cluster = c.name;
        break;
      }
      n -= c.weight;
    }
    if (host.acceptTcp === undefined) return refuse('this listener cannot run tcp_proxy');
    host.acceptTcp(socket, r.head, {
      statPrefix: chain.statPrefix,
      cluster,
      idleTimeoutMs: chain.idleTimeoutMs,
    });
  });
}
