// Checks that a regular expression compiles as RE2, the engine Envoy and gRPC's xDS clients use:
// no lookaround, no backreferences, no possessive quantifiers.
import { RE2Engine } from '../common/re2.js';

/** Undefined when `pattern` is valid RE2, else the engine's explanation. */
export function re2Error(pattern: string): string | undefined {
  try {
    new (RE2Engine())(pattern, 'u');
    return undefined;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // "Invalid regular expression: /(?=x)/u: invalid perl operator: (?=" -> the engine's part.
    const engine = message.replace(/^Invalid regular expression: \/.*\/u?: /s, '');
    return engine;
  }
}

/** One line explaining what RE2 accepts, for issue messages. */
export const RE2_HINT =
  'regexes must be valid RE2 (the syntax Envoy and gRPC use): lookahead/lookbehind and backreferences are not supported';
