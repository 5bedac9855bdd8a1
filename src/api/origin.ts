// Remembers where each parsed resource came from (file, document, line lookup), so analyze() can
// report cross-resource issues with lines without widening the Resource type.
import type { LineOf } from './yaml-locate.js';

export interface Origin {
  readonly source: string;
  readonly document: number;
  readonly lineOf?: LineOf;
}

const origins = new WeakMap<object, Origin>();

export function recordOrigin(resource: object, origin: Origin): void {
  origins.set(resource, origin);
}

export function originOf(resource: object): Origin | undefined {
  return origins.get(resource);
}
