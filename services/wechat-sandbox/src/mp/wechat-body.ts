import type { SandboxRequest } from '../http.js';
import { jsonBody } from '../http.js';
import { WxError } from './domain/errors.js';

/** A WeChat API's JSON body; an empty one throws 44002 and an unparsable one 47001, as WeChat answers. */
export function wechatJsonBody(req: SandboxRequest): Record<string, unknown> {
  if (req.body.length === 0) throw new WxError(44002);
  const parsed = jsonBody(req);
  if (parsed === undefined) throw new WxError(47001);
  return parsed;
}
