import type { SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';
import type { MpStore } from './store.js';

/** A control request the sandbox refuses: HTTP 400 with a message naming the field. */
class BadRequest extends Error {}

/** Refuses a control request (400); `message` starts with the field's name. */
export function fail(message: string): never {
  throw new BadRequest(message);
}

/**
 * Reads typed fields from a control request's JSON body, failing (400) with the field's name. The
 * optional readers treat an absent field as undefined but refuse a present one of the wrong type.
 */
export function fields(req: SandboxRequest) {
  const body = jsonBody(req) ?? fail('body: a JSON object is required');
  const str = (name: string): string => {
    const value = body[name];
    return typeof value === 'string' && value.length > 0
      ? value
      : fail(`${name}: a non-empty string is required`);
  };
  const optStr = (name: string): string | undefined => (body[name] === undefined ? undefined : str(name));
  const int = (name: string, min: number): number => {
    const value = body[name];
    return Number.isSafeInteger(value) && (value as number) >= min
      ? (value as number)
      : fail(`${name}: an integer >= ${min} is required`);
  };
  const optInt = (name: string, min: number): number | undefined =>
    body[name] === undefined ? undefined : int(name, min);
  const optBool = (name: string): boolean | undefined => {
    const value = body[name];
    return value === undefined || typeof value === 'boolean' ? value : fail(`${name}: true or false`);
  };
  const oneOf = <T extends string>(name: string, values: readonly T[], fallback?: T): T => {
    const value = body[name] ?? fallback;
    return values.includes(value as T) ? (value as T) : fail(`${name}: one of ${values.join(', ')}`);
  };
  return { body, str, optStr, int, optInt, optBool, oneOf };
}

/** A control handler: BadRequest becomes HTTP 400 `{error}`; anything else propagates. */
export function controlHandler(run: (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>) {
  return async (req: SandboxRequest): Promise<SandboxResponse> => {
    try {
      return await run(req);
    } catch (error) {
      if (error instanceof BadRequest) return { status: 400, body: { error: error.message } };
      throw error;
    }
  };
}

/** The appid when the store knows the app, else a 400 telling the caller to register it. */
export function registeredAppOf(store: MpStore, appid: string): string {
  return store.hasApp(appid) ? appid : fail(`appid: ${appid} is not registered; POST /sandbox/mp/apps first`);
}
