import { randomUUID, verify } from 'node:crypto';
import {
  createNonce,
  parseAuthorizationHeader,
  requestSignatureMessage,
  responseSignatureMessage,
  rsaSign,
} from '@wxmesh/wechat-pay';
import type { SandboxRequest, SandboxResponse } from '../http.js';
import type { PayKeys, SignerKind } from './keys.js';

/** How far the merchant's signature timestamp may be from the sandbox clock, as WeChat Pay allows. */
const MAX_CLOCK_SKEW_S = 300;

/**
 * WeChat Pay's signing side: the headers of a signed answer or notification, and the check of a
 * merchant's `Authorization`. Which key signs (`certificate` or `public-key`) is its one piece of
 * state, switched by the control API.
 */
export function createPaySigner(deps: { keys: PayKeys; now: () => number; signWith: SignerKind }) {
  const { keys, now } = deps;
  let signWith = deps.signWith;

  /** Headers of a WeChat Pay signed answer or notification over `body`. */
  function signedHeaders(body: string): Record<string, string> {
    const signer = keys.signers[signWith];
    const timestamp = String(Math.floor(now() / 1000));
    const nonce = createNonce();
    return {
      'wechatpay-serial': signer.id,
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-signature': rsaSign(signer.key, responseSignatureMessage(timestamp, nonce, body)),
      'request-id': randomUUID(),
    };
  }

  /** A signed answer: `value` as JSON (none when undefined) with the signature headers. */
  function signed(status: number, value: unknown): SandboxResponse {
    const body = value === undefined ? '' : JSON.stringify(value);
    return {
      status,
      headers: { ...signedHeaders(body), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body || undefined,
    };
  }

  /** Checks the merchant's Authorization as WeChat Pay does; a signed 401 when it fails. */
  function checkMerchant(req: SandboxRequest): SandboxResponse | undefined {
    const refuse = (message: string) => signed(401, { code: 'SIGN_ERROR', message });
    const auth = parseAuthorizationHeader(req.headers.authorization);
    if (auth === undefined) return refuse('Authorization missing or malformed');
    if (auth.mchid !== keys.mchid) return refuse('mchid does not match');
    if (Math.abs(now() / 1000 - Number(auth.timestamp)) > MAX_CLOCK_SKEW_S)
      return refuse('timestamp expired');
    const query = req.query.toString();
    const message = requestSignatureMessage({
      method: req.method,
      pathAndQuery: `${req.path}${query ? `?${query}` : ''}`,
      body: req.body,
      timestamp: Number(auth.timestamp),
      nonce: auth.nonce,
    });
    const signature = Buffer.from(auth.signature, 'base64');
    if (!verify('sha256', Buffer.from(message), keys.merchantKey, signature)) {
      return refuse('signature does not verify');
    }
    return undefined;
  }

  return {
    signedHeaders,
    signed,
    checkMerchant,
    /** Signs with `kind` from now on. */
    use(kind: SignerKind): void {
      signWith = kind;
    },
  };
}

/** The signer {@link createPaySigner} returns. */
export type PaySigner = ReturnType<typeof createPaySigner>;
