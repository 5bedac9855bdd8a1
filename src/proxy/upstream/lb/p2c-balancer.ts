// Power of two choices (Mitzenmacher): sample `choiceCount` endpoints ∝ weight, keep the cheapest.
// Shared by LEAST_REQUEST and PEAK_EWMA, which differ only in how two candidates compare.
import { BaseBalancer } from './base-balancer.js';
import type { EndpointState } from './endpoint-state.js';
import { LB_DEFAULTS, type Endpoint, type LoadBalancerOptions, type PickContext } from './lb.js';
import { WeightedSampler } from './weighted-sampler.js';

export abstract class P2cBalancer<E extends Endpoint = Endpoint> extends BaseBalancer<E> {
  private readonly sampler = new WeightedSampler();
  private readonly choices: number;

  constructor(opts: LoadBalancerOptions) {
    super(opts);
    this.choices = Math.max(2, Math.floor(opts.choiceCount ?? LB_DEFAULTS.choiceCount));
  }

  /** True when `b` is strictly cheaper than `a` (ties keep the first sample, so ties go ∝ weight). */
  protected abstract cheaper(b: EndpointState<E>, a: EndpointState<E>): boolean;

  protected build(eligible: readonly EndpointState<E>[]): void {
    this.sampler.build(eligible.map((s) => s.weight));
  }

  protected choose(_ctx: PickContext<E> | undefined): EndpointState<E> {
    const list = this.eligible;
    const sampler = this.sampler;
    const i = sampler.sample(this.rng.next30());
    let best = list[i] as EndpointState<E>;
    if (list.length === 1) return best;
    const j = sampler.sampleOther(this.rng, i);
    let other = list[j] as EndpointState<E>;
    if (this.cheaper(other, best)) best = other;
    for (let c = 2; c < this.choices; c++) {
      other = list[sampler.sample(this.rng.next30())] as EndpointState<E>;
      if (this.cheaper(other, best)) best = other;
    }
    return best;
  }
}
