// createLoadBalancer: the one factory the cluster manager calls, by policy name (PEAK_EWMA by default).
import { TrellisError } from '../../../common/errors.js';
import type { Endpoint, LbPolicy, LoadBalancer, LoadBalancerOptions } from './lb.js';
import { LeastRequestBalancer } from './least-request.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';

export const DEFAULT_LB_POLICY: LbPolicy = 'PEAK_EWMA';
export const LB_POLICIES: readonly LbPolicy[] = [
  'ROUND_ROBIN',
  'RANDOM',
  'LEAST_REQUEST',
  'PEAK_EWMA',
  'RING_HASH',
];

export function createLoadBalancer<E extends Endpoint = Endpoint>(
  policy: LbPolicy,
  opts: LoadBalancerOptions,
  endpoints: readonly E[] = [],
): LoadBalancer<E> {
  let lb: LoadBalancer<E>;
  switch (policy) {
    case 'ROUND_ROBIN':
      lb = new RoundRobinBalancer<E>(opts);
      break;
    case 'RANDOM':
      lb = new RandomBalancer<E>(opts);
      break;
    case 'LEAST_REQUEST':
      lb = new LeastRequestBalancer<E>(opts);
      break;
    case 'PEAK_EWMA':
      lb = new PeakEwmaBalancer<E>(opts);
      break;
    case 'RING_HASH':
      lb = new RingHashBalancer<E>(opts);
      break;
    default:
      throw new TrellisError(
        'INVALID_CONFIG',
        `unknown load-balancing policy ${JSON.stringify(policy)}; valid: ${LB_POLICIES.join(', ')}`,
      );
  }
  lb.update(endpoints);
  return lb;
}
