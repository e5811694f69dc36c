/**
 * The logging this library does, as a structural type: a pino `Logger` (what `@wxmesh/rpc`'s
 * `createLogger` returns) fits it, so the library need not depend on pino or on the service kit.
 */
export interface EventsLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Discards everything; the default when no logger is given. */
export const SILENT_LOGGER: EventsLogger = {
  info: () => {},
  warn: () => {},
};
