export { createWeChatApi, type Query, type WeChatApi, type WeChatApiOptions } from './api-client.js';
export { TOKEN_ERRCODES, UserDataError, WeChatApiError, WeChatUnavailableError } from './errors.js';
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
