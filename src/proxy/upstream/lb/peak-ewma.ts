// PEAK_EWMA (the default): latency-aware power of two choices, as linkerd2-proxy and Finagle do.
// cost = RTT estimate × (in-flight + 1); the estimate is peak-sensitive and decays (τ ≈ 10 s).
// Weights act through sampling (candidates drawn ∝ weight); costs compare unweighted, as linkerd's.
import type { EndpointState } from './endpoint-state.js';
import type { Endpoint } from './lb.js';
import { P2cBalancer } from './p2c-balancer.js';

export class PeakEwmaBalancer<E extends Endpoint = Endpoint> extends P2cBalancer<E> {
  readonly policy = 'PEAK_EWMA' as const;

  protected cheaper(b: EndpointState<E>, a: EndpointState<E>): boolean {
    // Decay both to the latest recorded instant (no clock read; see LatencyModel.latest).
    a.decayToLatest();
    b.decayToLatest();
    return b.decayed * (b.inFlight + 1) < a.decayed * (a.inFlight + 1);
  }
}
