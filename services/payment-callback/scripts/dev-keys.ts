// Development key material for WeChat Pay: `npm start` and the tests run the real signing,
// verification and encryption paths against the sandbox without any real secret.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDevCertificate } from '@wxmesh/wechat-pay';

/** The merchant id the dev material is made for (WeChat Pay's documentation sample merchant). */
export const DEV_MCHID = '1900000109';

/** What {@link writeDevPaymentSecrets} wrote, with the keys for tests that sign by hand. */
export interface DevPaymentSecrets {
  /** Environment for payment-callback (add WECHATPAY_BASE_URL and WECHATPAY_NOTIFY_URL). */
  paymentCallback: Record<string, string>;
  /** Environment for wechat-sandbox's Pay side. */
  sandbox: Record<string, string>;
  mchid: string;
  apiV3Key: string;
  merchant: { privateKey: KeyObject; serial: string };
  /** The platform certificate (id = its serial) and the public key (id = PUB_KEY_ID_...). */
  platformCertificate: { privateKey: KeyObject; serial: string };
  platformPublicKey: { privateKey: KeyObject; id: string };
  /** The bundle payment-callback trusts; rewrite it (atomically) to test rotation. */
  platformKeysFile: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();

async function writeSecret(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(`${path}.tmp`, content, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return path;
}

/**
 * Generates fresh dev key material into `dir` (created if missing, files mode 0600): a merchant
 * key and certificate serial, an APIv3 key, a platform certificate and a `PUB_KEY_ID_` public key
 * for the sandbox to sign with, and the bundle payment-callback trusts (both). Returns the
 * environment variables for both services. Fresh keys every call: nothing secret lives in the repo.
 */
export async function writeDevPaymentSecrets(dir: string): Promise<DevPaymentSecrets> {
  await mkdir(dir, { recursive: true });
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pubkey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const merchantSerial = hex(20);
  const platformSerial = hex(20);
  const publicKeyId = `PUB_KEY_ID_01${DEV_MCHID}${hex(12)}`;
  const apiV3Key = randomBytes(24).toString('base64url').slice(0, 32);
  const now = Date.now();
  const pem = (key: KeyObject) =>
    key.export({ type: key.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString();
  const platformCert = createDevCertificate({
    ...platform,
    serialHex: platformSerial,
    commonName: 'wxmesh sandbox WeChat Pay platform',
    notBefore: now - 3600_000,
    notAfter: now + 5 * 365 * 86_400_000,
  });
  const merchantCert = createDevCertificate({
    ...merchant,
    serialHex: merchantSerial,
    commonName: `${DEV_MCHID} wxmesh dev merchant`,
    notBefore: now - 3600_000,
    notAfter: now + 5 * 365 * 86_400_000,
  });

  const merchantKeyFile = await writeSecret(dir, 'apiclient_key.pem', pem(merchant.privateKey));
  const merchantSerialFile = await writeSecret(dir, 'merchant_serial', `${merchantSerial}\n`);
  const apiV3KeyFile = await writeSecret(dir, 'apiv3_key', `${apiV3Key}\n`);
  const platformKeysFile = await writeSecret(
    dir,
    'platform_keys.pem',
    `${platformCert}${publicKeyId}\n${pem(pubkey.publicKey)}`,
  );
  const sandboxMerchantCert = await writeSecret(dir, 'sandbox_merchant_cert.pem', merchantCert);
  const sandboxPlatformKey = await writeSecret(dir, 'sandbox_platform_key.pem', pem(platform.privateKey));
  const sandboxPublicKeyKey = await writeSecret(dir, 'sandbox_pub_key_private.pem', pem(pubkey.privateKey));

  return {
    paymentCallback: {
      WECHATPAY_MCHID: DEV_MCHID,
      WECHATPAY_MERCHANT_KEY_FILE: merchantKeyFile,
      WECHATPAY_MERCHANT_SERIAL_FILE: merchantSerialFile,
      WECHATPAY_APIV3_KEY_FILE: apiV3KeyFile,
      WECHATPAY_PLATFORM_KEYS_FILE: platformKeysFile,
    },
    sandbox: {
      SANDBOX_PAY_MCHID: DEV_MCHID,
      SANDBOX_PAY_APIV3_KEY_FILE: apiV3KeyFile,
      SANDBOX_PAY_MERCHANT_CERT_FILE: sandboxMerchantCert,
      SANDBOX_PAY_PLATFORM_KEY_FILE: sandboxPlatformKey,
      SANDBOX_PAY_PLATFORM_SERIAL: platformSerial,
      SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE: sandboxPublicKeyKey,
      SANDBOX_PAY_PUBLIC_KEY_ID: publicKeyId,
    },
    mchid: DEV_MCHID,
    apiV3Key,
    merchant: { privateKey: merchant.privateKey, serial: merchantSerial },
    platformCertificate: { privateKey: platform.privateKey, serial: platformSerial },
    platformPublicKey: { privateKey: pubkey.privateKey, id: publicKeyId },
    platformKeysFile,
  };
}
