import { Code, ConnectError } from '@connectrpc/connect';

/**
 * How a call ended, as the name of its status code: `'OK'`, or `'Unavailable'`, `'PermissionDenied'`
 * ... for a call that failed (any error, as `ConnectError.from` reads it). Lets a test assert on
 * the outcome of calls it expects to fail without a try/catch each.
 */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (err) {
    return Code[ConnectError.from(err).code]!;
  }
}

/**
 * The sum of a metric's samples on a service's `/metrics` (Prometheus text) whose labels include
 * every `labels` pair; 0 when it has none. `httpUrl` is the service's http port base URL.
 */
export async function metricSum(
  httpUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}
