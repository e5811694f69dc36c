import { SecretFormatError, watchSecretFile } from '@wxmesh/config';
import { createSealBox, parseKeyRing } from './key-ring.js';

export type { SealBox } from './key-ring.js';

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

/**
 * The service's secrets, each from its own file and hot-reloaded on rotation: the AppSecrets by
 * appid, and the at-rest key ring (newest key first; see key-ring.ts). The context passed to seal/open is the Redis key the value
 * lives under, so a ciphertext copied to another user's key does not decrypt.
 */
export async function loadSecrets(
  paths: { appSecrets: string; encryptionKey: string },
  onError: (err: Error) => void,
) {
  const apps = await watchSecretFile(paths.appSecrets, { parse: parseAppSecrets, onError });
  const keys = await watchSecretFile(paths.encryptionKey, { parse: parseKeyRing, onError });
  const box = createSealBox(() => keys.current());
  return {
    /** The AppSecret of an app, or undefined when the app is not configured. */
    appSecret: (appid: string) => apps.current().get(appid),
    /** The configured appids. */
    appids: () => [...apps.current().keys()],
    box,
    close: () => {
      apps.close();
      keys.close();
    },
  };
}

export type Secrets = Awaited<ReturnType<typeof loadSecrets>>;
