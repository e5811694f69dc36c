import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretFormatError, watchSecretFile } from '@wxmesh/config';

/** Parses `appid=secret` lines (blank lines and `#` comments allowed). */
function parseAppSecrets(text: string): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(wx[0-9a-f]{16})\s*=\s*(\S+)$/.exec(trimmed);
    if (!match) throw new SecretFormatError(`line ${i + 1}: expected appid=secret`);
    secrets.set(match[1]!, match[2]!);
  }
  if (secrets.size === 0) throw new SecretFormatError('no appid=secret lines');
  return secrets;
}

function parseKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new SecretFormatError('expected 32 bytes, base64-encoded');
  return key;
}

/** Encrypts values at rest with AES-256-GCM; see {@link loadSecrets}. */
export interface SealBox {
  /** `v1.<nonce>.<ciphertext+tag>`, bound to `context` (a key name) as associated data. */
  seal(plain: string, context: string): string;
  /** The plaintext, or undefined when the value is not one this key sealed for `context`. */
  open(sealed: string, context: string): string | undefined;
}

/**
 * The service's secrets, each from its own file and hot-reloaded on rotation: the AppSecrets by
 * appid, and the at-rest encryption key. The context passed to seal/open is the Redis key the value
 * lives under, so a ciphertext copied to another user's key does not decrypt.
 */
export async function loadSecrets(
  paths: { appSecrets: string; encryptionKey: string },
  onError: (err: Error) => void,
) {
  const apps = await watchSecretFile(paths.appSecrets, { parse: parseAppSecrets, onError });
  const key = await watchSecretFile(paths.encryptionKey, { parse: parseKey, onError });
  const box: SealBox = {
    seal(plain, context) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key.current(), nonce);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `v1.${nonce.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, nonce, body] = sealed.split('.');
      if (version !== 'v1' || nonce === undefined || body === undefined) return undefined;
      try {
        const bytes = Buffer.from(body, 'base64url');
        const decipher = createDecipheriv('aes-256-gcm', key.current(), Buffer.from(nonce, 'base64url'));
        decipher.setAAD(Buffer.from(context));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([
          decipher.update(bytes.subarray(0, bytes.length - 16)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        return undefined;
      }
    },
  };
  return {
    /** The AppSecret of an app, or undefined when the app is not configured. */
    appSecret: (appid: string) => apps.current().get(appid),
    /** The configured appids. */
    appids: () => [...apps.current().keys()],
    box,
    close: () => {
      apps.close();
      key.close();
    },
  };
}

export type Secrets = Awaited<ReturnType<typeof loadSecrets>>;
