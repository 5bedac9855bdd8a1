// Structured JSON-lines logging; components take a Logger and make child loggers. The control
// plane and the other long-lived commands log with pino (`createLogger`); the sidecar uses the small
// logger of json-logger.ts, which writes the same lines without loading pino (docs/sidecar.md
// "Memory"). pino is loaded on the first call here, not when this module is imported.
import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';

/** `log.info(obj, msg, ...args)` or `log.info(msg, ...args)`, as pino's. */
export interface LogFn {
  (obj: object | null | undefined, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/** What Trellis code uses of a logger; a pino logger is one. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: string;
  name?: string;
}

/** The paths whose values print as "[Redacted]" (json-logger.ts redacts the same ones). */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'privateKey',
  '*.privateKey',
];

let pinoModule: typeof import('pino') | undefined;
function loadPino(): typeof import('pino') {
  pinoModule ??= createRequire(import.meta.url)('pino') as typeof import('pino');
  return pinoModule;
}

/** Creates the root logger of a process (pino); everything else receives it or a child of it. */
export function createLogger(opts: LoggerOptions = {}): PinoLogger {
  return loadPino().pino({
    name: opts.name ?? 'trellis',
    level: opts.level ?? process.env['TRELLIS_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS },
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return loadPino().pino({ level: 'silent' });
}
