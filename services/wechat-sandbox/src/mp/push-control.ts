import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { controlHandler, fail, fields, registeredAppOf } from './control-request.js';
import { publicPushConfig, type createPushSender } from './adapters/push-sender.js';
import type { MpStore } from './store.js';

type PushSender = ReturnType<typeof createPushSender>;

const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_DELIVERIES = 10;

function pushConfig(store: MpStore, sender: PushSender, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const appid = registeredAppOf(store, f.str('appid'));
  const url = f.str('url');
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) fail('url: an http(s) URL');
  const token = f.str('token');
  if (!/^[A-Za-z0-9]{3,32}$/.test(token)) fail('token: 3 to 32 letters or digits, as the console requires');
  const mode = f.oneOf('mode', ['plain', 'compat', 'safe'] as const);
  const encodingAesKey = f.optStr('encodingAesKey');
  if (encodingAesKey === undefined ? mode !== 'plain' : !/^[A-Za-z0-9]{43}$/.test(encodingAesKey)) {
    fail('encodingAesKey: 43 letters or digits, required in compat and safe mode');
  }
  const config = {
    appid,
    url,
    token,
    ...(encodingAesKey === undefined ? {} : { encodingAesKey }),
    mode,
    format: f.oneOf('format', ['xml', 'json'] as const),
    timeoutMs: f.optInt('timeoutMs', 1) ?? DEFAULT_TIMEOUT_MS,
  };
  try {
    sender.configure(config);
  } catch (error) {
    if (error instanceof RangeError) fail(error.message);
    throw error;
  }
  return { body: publicPushConfig(config) };
}

async function push(store: MpStore, sender: PushSender, req: SandboxRequest): Promise<SandboxResponse> {
  const f = fields(req);
  const appid = registeredAppOf(store, f.str('appid'));
  const message = f.body.message as Record<string, unknown> | undefined;
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    fail('message: a JSON object {FromUserName, MsgType, ...} is required');
  }
  for (const name of ['FromUserName', 'MsgType']) {
    if (typeof message[name] !== 'string' || message[name] === '')
      fail(`message.${name}: a non-empty string`);
  }
  const deliveries = f.optInt('deliveries', 1) ?? 1;
  if (deliveries > MAX_DELIVERIES) fail(`deliveries: at most ${MAX_DELIVERIES}`);
  if (sender.config(appid) === undefined) {
    return {
      status: 409,
      body: { error: `appid: ${appid} has no push config; POST /sandbox/mp/push-config` },
    };
  }
  return { body: await sender.push(appid, message, deliveries) };
}

/**
 * The control API of the message-push sender: `POST /sandbox/mp/push-config` (never echoing the
 * Token or key) and `POST /sandbox/mp/push`, which answers once the push is done (attempts,
 * whether it was answered, the reply). Documented in the service README.
 */
export function createPushControlEndpoints(store: MpStore, sender: PushSender): Endpoint[] {
  return [
    {
      method: 'POST',
      path: '/sandbox/mp/push-config',
      handler: controlHandler((req) => pushConfig(store, sender, req)),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/push',
      handler: controlHandler((req) => push(store, sender, req)),
    },
  ];
}
