/**
 * A call to wechat-sandbox's control API (`/sandbox/...`: js-codes, user data, templates, paying an
 * order) at `httpUrl`: POST with a JSON body, GET without one unless `method` says otherwise.
 * Resolves to the parsed JSON answer (`{}` for an empty one); throws with the status and the
 * answer unless it is 2xx, so a fixture that did not apply fails where it was set up.
 */
export async function sandboxControl<T = Record<string, unknown>>(
  httpUrl: string,
  path: string,
  body?: unknown,
  method: string = body === undefined ? 'GET' : 'POST',
): Promise<T> {
  const res = await fetch(`${httpUrl}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? {} : JSON.parse(text)) as T;
}
