// The flag parsing every `trellis` subcommand does: node's parseArgs, strict; a bad flag is a
// BAD_REQUEST with node's message (which names the flag) followed by the command's usage.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TrellisError } from '../common/errors.js';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * `argv` parsed against `options` (strict; positionals only when `allowPositionals`). The error of
 * a bad flag is `<prefix><what is wrong>\n<help>`.
 */
export function parseFlags<O extends FlagOptions, P extends boolean = false>(
  argv: readonly string[],
  options: O,
  help: string,
  allowPositionals: P = false as P,
  prefix = '',
) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals });
  } catch (e) {
    throw new TrellisError('BAD_REQUEST', `${prefix}${(e as Error).message}\n${help}`);
  }
}
