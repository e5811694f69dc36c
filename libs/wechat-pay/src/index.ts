export {
  AUTH_SCHEMA,
  authorizationHeader,
  createNonce,
  jsapiPayParams,
  loadPrivateKey,
  parseAuthorizationHeader,
  requestSignatureMessage,
  rsaSign,
  type JsapiPayParams,
  type MerchantCredentials,
  type ParsedAuthorization,
  type RequestToSign,
} from './signing.js';
export {
  certificateKey,
  DEFAULT_MAX_SKEW_SECONDS,
  parsePlatformKeyBundle,
  PUBLIC_KEY_ID_PREFIX,
  publicKeyWithId,
  responseSignatureMessage,
  signatureHeadersOf,
  SIGNTEST_PREFIX,
  verifyWechatpaySignature,
  type PlatformKey,
  type PlatformKeySet,
  type VerificationFailure,
  type VerificationResult,
  type WechatpaySignatureHeaders,
} from './verification.js';
export {
  AEAD_AES_256_GCM,
  decryptResource,
  encryptResource,
  ResourceDecryptionError,
  type EncryptedResource,
} from './aead.js';
export { createDevCertificate } from './dev-certificate.js';
