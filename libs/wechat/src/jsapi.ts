import { createHash } from 'node:crypto';

/**
 * The JS-SDK `wx.config` signature: SHA-1 over
 * `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys in that ASCII order, values unescaped), with
 * the page URL taken without its `#fragment`, as WeChat's JS-SDK documentation specifies.
 */
export function jsapiSignature(input: { ticket: string; nonceStr: string; timestamp: number; url: string }): {
  signature: string;
  signedUrl: string;
} {
  const signedUrl = input.url.split('#', 1)[0]!;
  const plain = `jsapi_ticket=${input.ticket}&noncestr=${input.nonceStr}&timestamp=${input.timestamp}&url=${signedUrl}`;
  return { signature: createHash('sha1').update(plain, 'utf8').digest('hex'), signedUrl };
}
