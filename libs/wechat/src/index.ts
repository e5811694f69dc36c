export { createWeChatApi, type Query, type WeChatApi, type WeChatApiOptions } from './api-client.js';
export { getJsapiTicket, getStableAccessToken, type IssuedCredential } from './endpoints/credentials.js';
export {
  getUserPhoneNumber,
  jscode2session,
  type CodeSession,
  type PhoneNumber,
} from './endpoints/mini-program.js';
export { exchangeOAuthCode, refreshOAuthAccessToken, type OAuthGrant } from './endpoints/oauth.js';
export { sendSubscribeMessage, SUBSCRIBE_SEND, type SubscribeMessage } from './endpoints/subscribe.js';
export {
  TOKEN_ERRCODES,
  UserDataError,
  WeChatApiError,
  weChatErrorKind,
  WeChatMalformedAnswerError,
  WeChatUnavailableError,
  type WeChatErrorKind,
} from './errors.js';
export { jsapiSignature } from './jsapi.js';
export {
  createMessageCrypt,
  MessageCryptError,
  type MessageCrypt,
  type MessageCryptFailure,
  type MessageCryptOptions,
} from './message-crypt.js';
export { parsePushBody, PushFormatError, renderPushXml, type PushFields } from './push-body.js';
export { decryptOpenData, verifyRawDataSignature, type OpenData } from './user-data.js';
