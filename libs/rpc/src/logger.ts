import { trace } from '@opentelemetry/api';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. This is the safety net, not the
 * mechanism: code must never hand a secret to the logger at all.
 */
export const REDACTED_PATHS = [
  'session_key',
  'sessionKey',
  '*.session_key',
  '*.sessionKey',
  'secret',
  '*.secret',
  'appSecret',
  '*.appSecret',
  'access_token',
  '*.access_token',
  'accessToken',
  '*.accessToken',
  'refresh_token',
  '*.refresh_token',
  'refreshToken',
  '*.refreshToken',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'apiV3Key',
  '*.apiV3Key',
  'privateKey',
  '*.privateKey',
];

/**
 * The JSON logger every service uses: pino, one line per event, stamped with the active span's
 * `trace_id`/`span_id` so a log line leads straight to its trace in Jaeger.
 */
export function createLogger(options: {
  name: string;
  level?: LevelWithSilent;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const spanContext = trace.getActiveSpan()?.spanContext();
        return spanContext ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {};
      },
    },
    options.destination,
  );
}
