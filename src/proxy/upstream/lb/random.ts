// RANDOM: weighted random choice, O(1) per pick through an alias table over the available endpoints.
import { BaseBalancer } from './base-balancer.js';
import type { EndpointState } from './endpoint-state.js';
import type { Endpoint, PickContext } from './lb.js';
import { WeightedSampler } from './weighted-sampler.js';

export class RandomBalancer<E extends Endpoint = Endpoint> extends BaseBalancer<E> {
  readonly policy = 'RANDOM' as const;
  private readonly sampler = new WeightedSampler();

  protected build(eligible: readonly EndpointState<E>[]): void {
    this.sampler.build(eligible.map((s) => s.weight));
  }

  protected choose(_ctx: PickContext<E> | undefined): EndpointState<E> {
    return this.eligible[this.sampler.sample(this.rng.next30())] as EndpointState<E>;
  }
}
