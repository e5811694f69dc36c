import type { KeyObject } from 'node:crypto';
import { SecretFormatError, watchSecretFile, type SecretFile } from '@wxmesh/config';
import { loadPrivateKey, parsePlatformKeyBundle, type PlatformKeySet } from '@wxmesh/wechat-pay';

/** The WeChat Pay secrets, each always the latest valid version of its file. */
export interface PaymentSecrets {
  merchantKey(): KeyObject;
  merchantSerial(): string;
  /** The APIv3 keys to try, newest first (the file holds one per line during a rotation). */
  apiV3Keys(): readonly string[];
  platformKeys(): PlatformKeySet;
  close(): void;
}

const wrap =
  <T>(parse: (text: string) => T) =>
  (text: string): T => {
    try {
      return parse(text);
    } catch (err) {
      throw new SecretFormatError(
        err instanceof Error ? err.message.replace(/-----[\s\S]*/, '') : 'unreadable',
      );
    }
  };

/**
 * Loads the secret files and keeps them fresh (Kubernetes secret-volume rotation, editors):
 * a rotated key is used from the next request on, no restart; an invalid new file is refused
 * and the previous value kept (`onError` is told, without the content).
 */
export async function loadPaymentSecrets(
  files: { merchantKey: string; merchantSerial: string; apiV3Key: string; platformKeys: string },
  onError: (err: Error) => void,
): Promise<PaymentSecrets> {
  const opened: SecretFile<unknown>[] = [];
  const watch = async <T>(path: string, parse: (text: string) => T) => {
    const file = await watchSecretFile(path, { parse: wrap(parse), onError });
    opened.push(file);
    return file;
  };
  try {
    const merchantKey = await watch(files.merchantKey, (t) => loadPrivateKey(t));
    const merchantSerial = await watch(files.merchantSerial, (t) => {
      const serial = t.trim().toUpperCase();
      if (!/^[0-9A-F]{8,40}$/.test(serial)) throw new Error('expected the certificate serial number in hex');
      return serial;
    });
    const apiV3Key = await watch(files.apiV3Key, (t) => {
      const keys = t
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean);
      if (keys.length === 0 || keys.some((k) => Buffer.byteLength(k) !== 32))
        throw new Error('expected one or more 32-character APIv3 keys, one per line');
      return keys;
    });
    const platformKeys = await watch(files.platformKeys, parsePlatformKeyBundle);
    return {
      merchantKey: () => merchantKey.current(),
      merchantSerial: () => merchantSerial.current(),
      apiV3Keys: () => apiV3Key.current(),
      platformKeys: () => platformKeys.current(),
      close: () => opened.forEach((f) => f.close()),
    };
  } catch (err) {
    opened.forEach((f) => f.close());
    throw err;
  }
}
