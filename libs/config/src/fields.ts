import { z } from 'zod';

/**
 * A schema that reads one environment variable (a string) and produces a typed value.
 * Every helper in this module returns one, so `.optional()` and `.default(value)` work as usual
 * (`.default` takes the parsed type, e.g. `port().default(8080)`).
 */
export type EnvField<T> = z.ZodType<T, string>;

/** Schemas registered here never have their raw value echoed in a {@link ConfigError}. */
export const sensitiveFields = z.registry<{ sensitive: true }>();

/**
 * Marks a field whose value must never appear in error messages (tokens, passwords, keys).
 * A bad value is then reported by variable name and expectation only.
 */
export function sensitive<S extends z.ZodType>(schema: S): S {
  sensitiveFields.add(schema, { sensitive: true });
  return schema;
}

/**
 * Builds a field from a converter that returns `undefined` for a bad value. The expectation text
 * is what {@link ConfigError} prints, so it should read naturally after "expected".
 */
export function envField<T>(expected: string, convert: (raw: string) => T | undefined): EnvField<T> {
  return z.string({ error: `expected ${expected}` }).transform((raw, ctx) => {
    const value = convert(raw.trim());
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    return value;
  });
}

const INTEGER = /^[+-]?\d+$/;

/** An integer in `[min, max]`, e.g. a pool size or a retry count. */
export function integer(options: { min?: number; max?: number } = {}): EnvField<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const expected =
    options.min !== undefined && options.max !== undefined
      ? `an integer between ${min} and ${max}`
      : options.min !== undefined
        ? `an integer >= ${min}`
        : options.max !== undefined
          ? `an integer <= ${max}`
          : 'an integer';
  return envField(expected, (raw) => {
    if (!INTEGER.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  });
}

/** A TCP port; 0 means "let the OS pick a free port" (the server reports what it bound). */
export function port(): EnvField<number> {
  return integer({ min: 0, max: 65535 });
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A positive duration in whole milliseconds. Accepts a bare number of milliseconds (`1500`) or a
 * number with a unit: `500ms`, `5s`, `1.5s`, `2m`, `1h`, `7d`.
 * Hand-written rather than the `ms` package because that one also accepts prose ("2 days", "1y")
 * and negative values, which we would rather reject at startup.
 */
export function duration(): EnvField<number> {
  return envField('a positive duration such as 1500, 500ms, 5s, 2m, 1h or 7d', (raw) => {
    const match = DURATION.exec(raw);
    if (!match) return undefined;
    const unit = (match[2] ?? 'ms').toLowerCase();
    const ms = Math.round(Number(match[1]) * (UNIT_MS[unit] ?? Number.NaN));
    return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
  });
}

/**
 * A duration that can also be switched off: `0` or `off` (case-insensitive) is 0, anything else
 * must be a {@link duration}. For features whose whole machinery a zero turns off (a cache and its
 * feed), so the caller tests `=== 0` rather than living with a zero-length timer.
 */
export function durationOrOff(): EnvField<number> {
  const positive = duration();
  return envField('0 or off, or a positive duration such as 500ms, 30s or 5m', (raw) =>
    raw === '0' || raw.toLowerCase() === 'off' ? 0 : positive.safeParse(raw).data,
  );
}

/** A boolean written as `true`/`false`/`1`/`0` (case-insensitive); anything else is an error. */
export function boolean(): EnvField<boolean> {
  return envField('one of true, false, 1, 0', (raw) => {
    const v = raw.toLowerCase();
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    return undefined;
  });
}

/**
 * An absolute URL with a host, returned as the string that was given. `protocols` restricts the scheme
 * (e.g. `['redis:', 'rediss:']`). Credentials in the URL are masked if the value is ever reported.
 */
export function url(options: { protocols?: readonly string[] } = {}): EnvField<string> {
  const { protocols } = options;
  const expected = protocols?.length ? `a URL with scheme ${protocols.join(' or ')}` : 'an absolute URL';
  return envField(expected, (raw) => {
    if (!URL.canParse(raw)) return undefined;
    const parsed = new URL(raw);
    // `localhost:4318` parses as scheme "localhost:" with no host; that is always a typo here.
    if (parsed.host === '') return undefined;
    if (protocols?.length && !protocols.includes(parsed.protocol)) return undefined;
    return raw;
  });
}

/** One of a fixed set of strings, compared exactly. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T): EnvField<T[number]> {
  return envField(`one of ${values.join(', ')}`, (raw) =>
    (values as readonly string[]).includes(raw) ? (raw as T[number]) : undefined,
  );
}

/** `host:port`, e.g. a Kafka bootstrap broker. IPv6 hosts go in brackets: `[::1]:9092`. */
export function hostPort(): EnvField<string> {
  return envField('host:port', (raw) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
    return match && Number(match[2]) <= 65535 ? raw : undefined;
  });
}

/**
 * A comma-separated list. Items are trimmed and empty items dropped; with `item`, each one is parsed
 * by that field (e.g. `commaList(hostPort())`) and the first bad item is reported by position.
 */
export function commaList<T = string>(item?: EnvField<T>, options: { min?: number } = {}): EnvField<T[]> {
  const min = options.min ?? 0;
  return z.string({ error: 'expected a comma-separated list' }).transform((raw, ctx) => {
    const parts = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (parts.length < min) {
      ctx.addIssue({ code: 'custom', message: `expected a comma-separated list of at least ${min} item(s)` });
      return z.NEVER;
    }
    if (!item) return parts as T[];
    const out: T[] = [];
    for (const [i, part] of parts.entries()) {
      const parsed = item.safeParse(part);
      if (!parsed.success) {
        const why = parsed.error.issues[0]?.message ?? 'invalid';
        ctx.addIssue({ code: 'custom', message: `item ${i + 1} of the comma-separated list: ${why}` });
        return z.NEVER;
      }
      out.push(parsed.data);
    }
    return out;
  });
}

/** pino's level names; `silent` turns logging off. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A pino log level, case-insensitive. */
export function logLevel(): EnvField<LogLevel> {
  return envField(`one of ${LOG_LEVELS.join(', ')}`, (raw) => {
    const v = raw.toLowerCase();
    return (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
  });
}
