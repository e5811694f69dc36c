import { z } from 'zod';
import { sensitiveFields } from './fields.js';

/** Environment variables as Node gives them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One problem with one variable, safe to print (sensitive values are never included). */
export interface ConfigIssue {
  readonly variable: string;
  readonly message: string;
}

/**
 * Thrown by {@link loadConfig}. The message has one line per offending variable, naming it and
 * saying what was expected, e.g. `GRPC_PORT: expected an integer between 0 and 65535, got "abc"`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid configuration:\n${issues.map((issue) => `  ${issue.variable}: ${issue.message}`).join('\n')}`,
    );
  }
}

/**
 * Declares a service's configuration: one object whose keys are the environment variable names.
 * Spread {@link commonServiceConfig} in and add the service's own fields. Unknown variables are
 * ignored (the environment holds plenty that is not ours).
 */
export function defineConfig<Shape extends z.ZodRawShape>(shape: Shape): z.ZodObject<Shape> {
  return z.object(shape);
}

/**
 * Parses and validates `env` against `schema` and returns the typed config object.
 * Empty and whitespace-only values count as unset, so `FOO=` in a manifest behaves like no `FOO`
 * (defaults apply, required fields fail). Throws {@link ConfigError} listing every bad variable.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.output<S> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(describeIssues(schema, input, result.error.issues));
}

/**
 * The composition root's entry: {@link loadConfig}, or on a {@link ConfigError} print its message
 * (no stack trace; it is the operator's mistake, not ours) and exit with status 1.
 * Other errors are rethrown untouched. `exit` and `write` are injectable for tests.
 */
export function loadConfigOrExit<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
  io: { exit?: (code: number) => never; write?: (text: string) => void } = {},
): z.output<S> {
  try {
    return loadConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    (io.write ?? ((text) => process.stderr.write(text)))(`${err.message}\n`);
    return (io.exit ?? ((code) => process.exit(code)))(1);
  }
}

function describeIssues(
  schema: z.ZodObject,
  input: Record<string, string>,
  issues: readonly z.core.$ZodIssue[],
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    const variable = issue.path.length > 0 ? issue.path.map(String).join('.') : '(config)';
    const key = String(issue.path[0] ?? '');
    const raw = input[key];
    let message: string;
    if (raw === undefined) {
      message = issue.message.startsWith('expected ')
        ? `is required but not set (${issue.message})`
        : 'is required but not set';
    } else {
      message = isSensitive(schema.shape[key])
        ? issue.message
        : `${issue.message}, got ${JSON.stringify(redactForDisplay(raw))}`;
    }
    const line = `${variable}\u0000${message}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push({ variable, message });
  }
  return out;
}

function isSensitive(schema: unknown): boolean {
  let current = schema as z.core.$ZodType | undefined;
  for (let depth = 0; current && depth < 10; depth++) {
    if (sensitiveFields.has(current as z.ZodType)) return true;
    const def = current._zod.def as { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    current = def.innerType ?? def.in;
  }
  return false;
}

const MAX_SHOWN = 80;

function redactForDisplay(raw: string): string {
  const masked = raw.replace(/(\/\/)[^/\s]*@/g, '$1***@');
  return masked.length > MAX_SHOWN ? `${masked.slice(0, MAX_SHOWN)}...` : masked;
}
