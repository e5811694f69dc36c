import { createCipheriv, createDecipheriv } from 'node:crypto';

/** The only resource algorithm APIv3 uses. */
export const AEAD_AES_256_GCM = 'AEAD_AES_256_GCM';

const TAG_BYTES = 16;

/** An encrypted `resource` of a notification (or `encrypt_certificate` of a certificate download). */
export interface EncryptedResource {
  algorithm: string;
  /** base64 of ciphertext || 16-byte GCM tag. */
  ciphertext: string;
  associated_data?: string;
  /** The 12-character nonce, used as the GCM IV as its UTF-8 bytes. */
  nonce: string;
  original_type?: string;
}

/** The resource could not be decrypted with any of the given keys. */
export class ResourceDecryptionError extends Error {
  override readonly name = 'ResourceDecryptionError';
}

function apiV3KeyBytes(key: string): Buffer {
  const bytes = Buffer.from(key, 'utf8');
  if (bytes.length !== 32) throw new Error('the APIv3 key must be 32 bytes');
  return bytes;
}

/**
 * Decrypts an AEAD_AES_256_GCM resource with the APIv3 key (32 ASCII characters used as the AES key,
 * the nonce's UTF-8 bytes as IV, `associated_data` as AAD). Several keys may be given (an APIv3 key
 * rotation): each is tried, and the GCM tag decides. Throws {@link ResourceDecryptionError} when the
 * algorithm is not AEAD_AES_256_GCM or no key authenticates the ciphertext.
 */
export function decryptResource(apiV3Keys: string | readonly string[], resource: EncryptedResource): Buffer {
  if (resource.algorithm !== AEAD_AES_256_GCM)
    throw new ResourceDecryptionError(`unsupported resource algorithm ${resource.algorithm}`);
  const data = Buffer.from(resource.ciphertext, 'base64');
  if (data.length < TAG_BYTES) throw new ResourceDecryptionError('ciphertext shorter than the GCM tag');
  const ciphertext = data.subarray(0, data.length - TAG_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  for (const key of typeof apiV3Keys === 'string' ? [apiV3Keys] : apiV3Keys) {
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        apiV3KeyBytes(key),
        Buffer.from(resource.nonce, 'utf8'),
        {
          authTagLength: TAG_BYTES,
        },
      );
      decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      // the next key, if any
    }
  }
  throw new ResourceDecryptionError('no APIv3 key authenticates the resource');
}

/**
 * Encrypts a resource as WeChat Pay does (the sandbox's notifier uses it): base64 of ciphertext
 * followed by the 16-byte tag.
 */
export function encryptResource(
  apiV3Key: string,
  plaintext: string | Buffer,
  options: { nonce: string; associatedData: string; originalType?: string },
): EncryptedResource {
  const cipher = createCipheriv('aes-256-gcm', apiV3KeyBytes(apiV3Key), Buffer.from(options.nonce, 'utf8'), {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(Buffer.from(options.associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return {
    algorithm: AEAD_AES_256_GCM,
    ciphertext: body.toString('base64'),
    associated_data: options.associatedData,
    nonce: options.nonce,
    ...(options.originalType ? { original_type: options.originalType } : {}),
  };
}
