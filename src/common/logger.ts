// Structured JSON-lines logging (pino); components take a Logger and make child loggers.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  name?: string;
}

/** Creates the root logger of a process; everything else receives it or a child of it. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino({
    name: opts.name ?? 'trellis',
    level: opts.level ?? process.env['TRELLIS_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'privateKey', '*.privateKey'] },
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
