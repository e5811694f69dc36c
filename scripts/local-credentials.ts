// `npm run local-credentials`: the dev credential set the local overlay's secretGenerators read
// (deploy/overlays/local/kustomization.yaml), written into the gitignored
// deploy/overlays/local/credentials/ so that no Secret value is ever committed. One set serves
// both sides: the sandbox's mini-program app and auth-verify share the AppSecret; the sandbox's
// WeChat Pay and payment-callback share the APIv3 key and each other's certificates. An existing
// complete set is kept (re-running changes nothing); `--force` replaces it, `--dir` writes elsewhere.
//   npm run local-credentials [-- --force] [-- --dir <path>]
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEMO_APPID } from '@wxmesh/gateway-client';
import { writeDevPaymentSecrets } from '../services/payment-callback/scripts/dev-keys.js';

/** Where the local overlay's secretGenerators read the credentials (gitignored). */
export const LOCAL_CREDENTIALS_DIR = fileURLToPath(
  new URL('../deploy/overlays/local/credentials', import.meta.url),
);

/** The payment key files (payment-callback's dev-keys layout) live in this subdirectory. */
const PAY_DIR = 'wechatpay';

/**
 * Every file of a complete set, relative to its directory: what the local overlay's
 * secretGenerators list, so a set missing any of them is written again.
 */
export const LOCAL_CREDENTIAL_FILES = [
  'app-secret',
  'session-key-encryption-key',
  'wechat-sandbox.env',
  'message-router-wechat-push.env',
  ...[
    'apiclient_key.pem',
    'merchant_serial',
    'apiv3_key',
    'platform_keys.pem',
    'sandbox_merchant_cert.pem',
    'sandbox_platform_key.pem',
    'sandbox_pub_key_private.pem',
  ].map((name) => `${PAY_DIR}/${name}`),
] as const;

/** What {@link ensureLocalCredentials} did. */
export interface LocalCredentialsResult {
  readonly dir: string;
  /** False when a complete set was already there and kept. */
  readonly written: boolean;
  /** The mini-program both auth-verify and the sandbox know. */
  readonly appid: string;
}

/** Writes `content` to `dir/name`, readable by its owner only. */
async function writePrivateFile(dir: string, name: string, content: string): Promise<void> {
  await writeFile(join(dir, name), content, { mode: 0o600 });
}

/** Whether `dir` holds every file of a set. */
function isCompleteSet(dir: string): boolean {
  return LOCAL_CREDENTIAL_FILES.every((name) => existsSync(join(dir, name)));
}

/**
 * A fresh set into the empty directory `dir`: the AppSecret (auth-verify's `appid=secret` file),
 * auth-verify's at-rest key ring with one named key, the WeChat Pay keys of payment-callback's
 * dev-keys script, the sandbox's env file naming the same app, platform serial and public key id,
 * and message-router's push Token and EncodingAESKey for that app.
 */
async function writeCredentialSet(dir: string, appid: string, now: Date): Promise<void> {
  const appSecret = randomBytes(16).toString('hex');
  await writePrivateFile(dir, 'app-secret', `${appid}=${appSecret}\n`);
  const keyId = `local-${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  await writePrivateFile(
    dir,
    'session-key-encryption-key',
    `${keyId}=${randomBytes(32).toString('base64')}\n`,
  );
  const pay = await writeDevPaymentSecrets(join(dir, PAY_DIR));
  const sandboxEnv = {
    SANDBOX_APPS: `${appid}:${appSecret}`,
    SANDBOX_PAY_PLATFORM_SERIAL: pay.platformCertificate.serial,
    SANDBOX_PAY_PUBLIC_KEY_ID: pay.platformPublicKey.id,
  };
  await writePrivateFile(dir, 'wechat-sandbox.env', envFile(sandboxEnv));
  // The app's message push: its Token and EncodingAESKey (43 base64 characters) for message-router.
  const pushToken = randomBytes(16).toString('hex');
  const encodingAesKey = randomBytes(32).toString('base64').slice(0, 43);
  await writePrivateFile(
    dir,
    'message-router-wechat-push.env',
    envFile({ apps: `${appid}:${pushToken}:${encodingAesKey}` }),
  );
}

/** `KEY=value` lines, the env file format kustomize's secretGenerator `envs:` reads. */
function envFile(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${value}\n`)
    .join('');
}

/**
 * Makes sure `dir` holds a complete local credential set: keeps a complete one unless `force`,
 * otherwise writes a fresh set into a staging directory next to it and swaps it in, so a failed
 * run never leaves a mixed set behind. Directories are mode 0700, files 0600.
 */
export async function ensureLocalCredentials(
  options: { dir?: string; force?: boolean; appid?: string; now?: Date } = {},
): Promise<LocalCredentialsResult> {
  const dir = resolve(options.dir ?? LOCAL_CREDENTIALS_DIR);
  const appid = options.appid ?? DEMO_APPID;
  if (!options.force && isCompleteSet(dir)) return { dir, written: false, appid };
  await mkdir(dirname(dir), { recursive: true });
  const staging = `${dir}.staging-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(join(staging, PAY_DIR), { recursive: true, mode: 0o700 });
    await writeCredentialSet(staging, appid, options.now ?? new Date());
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { dir, written: true, appid };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { force: { type: 'boolean', default: false }, dir: { type: 'string' } },
  });
  const result = await ensureLocalCredentials({ dir: values.dir, force: values.force });
  const what = result.written ? 'wrote a fresh' : 'kept the existing';
  console.log(`${what} local credential set for app ${result.appid} in ${result.dir}`);
  if (!result.written) console.log('(--force replaces it; then re-apply the overlay)');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
