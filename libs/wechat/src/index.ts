export { createWeChatApi, type Query, type WeChatApi, type WeChatApiOptions } from './api-client.js';
export { TOKEN_ERRCODES, UserDataError, WeChatApiError, WeChatUnavailableError } from './errors.js';
export { jsapiSignature } from './jsapi.js';
export { decryptOpenData, verifyRawDataSignature, type OpenData } from './user-data.js';
