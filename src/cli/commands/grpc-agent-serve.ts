// `trellis grpc-agent --serve IP:PORT`: registers a proxyless gRPC server (an XdsServer bound to
// IP:PORT) as an instance of its Service while it accepts connections, as a sidecar's registrar
// does for its app: `proxyless: true, mtls: true`, so the control plane marks the endpoint for
// mTLS while the Service is STRICT (its server Listener then requires the client certificate) and
// sidecar and proxyless clients originate TLS to it and check the Service's SPIFFE ID.
//
// Readiness is a TCP connect: an XdsServer binds its port only once it has its server Listener
// from the control plane, so a port that accepts is a server that serves. Three failed probes in
// a row deregister it; a later success registers it again.
import type { Logger } from '../../common/logger.js';
import { probeApp } from '../../proxy/main/app-probe.js';
import { Registrar, type FetchLike, type Registration } from '../../proxy/main/registrar.js';
import type { TokenSource } from '../../proxy/identity/token-source.js';

export interface ServeTarget {
  readonly host: string;
  readonly port: number;
}

export interface ServeRegistrationOptions {
  readonly api: string;
  readonly fetch?: FetchLike;
  /** The bootstrap token: the registration credential on a plaintext (http:) API. */
  readonly token?: TokenSource;
  readonly logger: Logger;
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly target: ServeTarget;
  readonly labels: Readonly<Record<string, string>>;
  readonly ttlSeconds: number;
  /** Between probes (default 1000 ms). */
  readonly probeIntervalMs?: number;
}

const FAILURES_TO_DEREGISTER = 3;

/** Starts probing and registering; `stop` deregisters (bounded by `timeoutMs`). */
export function startServeRegistration(o: ServeRegistrationOptions): {
  stop(timeoutMs: number): Promise<void>;
} {
  const log = o.logger.child({ component: 'serve' });
  const registrar = new Registrar({
    api: o.api,
    logger: o.logger,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.token ? { token: o.token } : {}),
    onChange: (registered) =>
      log.info(
        { registered, address: o.target.host, port: o.target.port },
        registered ? 'proxyless server registered' : 'proxyless server not registered',
      ),
  });
  const reg: Registration = {
    id: o.id,
    service: o.service,
    namespace: o.namespace,
    address: o.target.host,
    port: o.target.port,
    labels: o.labels,
    ttlSeconds: o.ttlSeconds,
    proxyless: true,
    mtls: true,
  };
  let failures = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const every = o.probeIntervalMs ?? 1000;
  const tick = async (): Promise<void> => {
    const r = await probeApp({ address: o.target.host, port: o.target.port }, Math.min(every, 1000));
    if (stopped) return;
    if (r.ok) {
      if (failures >= FAILURES_TO_DEREGISTER) log.info({}, 'the gRPC server accepts connections again');
      failures = 0;
      registrar.want(reg);
    } else if (++failures === FAILURES_TO_DEREGISTER) {
      log.warn({ reason: r.reason }, 'the gRPC server does not accept connections; deregistering');
      registrar.want(undefined);
    } else if (failures === 1 && !registrar.registered())
      log.info(
        { reason: r.reason },
        'waiting for the gRPC server to listen (it binds once it has its xDS Listener)',
      );
    timer = setTimeout(() => void tick(), every);
  };
  void tick();
  return {
    stop: async (timeoutMs) => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await registrar.stop(timeoutMs);
    },
  };
}
