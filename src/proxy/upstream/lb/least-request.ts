// LEAST_REQUEST: power of two choices on active requests / weight (Envoy's least_request, choice_count 2).
import type { EndpointState } from './endpoint-state.js';
import type { Endpoint } from './lb.js';
import { P2cBalancer } from './p2c-balancer.js';

export class LeastRequestBalancer<E extends Endpoint = Endpoint> extends P2cBalancer<E> {
  readonly policy = 'LEAST_REQUEST' as const;

  protected cheaper(b: EndpointState<E>, a: EndpointState<E>): boolean {
    // b.inFlight / b.weight < a.inFlight / a.weight, without dividing.
    return b.inFlight * a.weight < a.inFlight * b.weight;
  }
}
