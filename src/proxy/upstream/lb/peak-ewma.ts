// PEAK_EWMA (the default): latency-aware power of two choices, as linkerd2-proxy and Finagle do.
// cost = RTT estimate × (in-flight + 1); the estimate is peak-sensitive and decays (τ ≈ 10 s).
import type { EndpointState } from './endpoint-state.js';
import type { Endpoint } from './lb.js';
import { P2cBalancer } from './p2c-balancer.js';

export class PeakEwmaBalancer<E extends Endpoint = Endpoint> extends P2cBalancer<E> {
  readonly policy = 'PEAK_EWMA' as const;
  private now = 0;

  protected override beginPick(): void {
    this.now = this.model.clock.now();
  }

  protected cheaper(b: EndpointState<E>, a: EndpointState<E>): boolean {
    return b.rttAt(this.now) * (b.inFlight + 1) < a.rttAt(this.now) * (a.inFlight + 1);
  }
}
