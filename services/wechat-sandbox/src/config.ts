import { accessSync, constants } from 'node:fs';
import {
  commaList,
  commonServiceConfig,
  defineConfig,
  envField,
  loadConfig,
  oneOf,
  sensitive,
  type Env,
  type EnvField,
} from '@wxmesh/config';
import type { MpApp } from './mp/index.js';

/**
 * The WeChat Pay key variables (payment-callback's `scripts/dev-keys.ts` writes them): set all of
 * them to serve the Pay paths, or none (the Pay paths then answer 503).
 */
export const PAY_KEY_VARIABLES = [
  'SANDBOX_PAY_MCHID',
  'SANDBOX_PAY_APIV3_KEY_FILE',
  'SANDBOX_PAY_MERCHANT_CERT_FILE',
  'SANDBOX_PAY_PLATFORM_KEY_FILE',
  'SANDBOX_PAY_PLATFORM_SERIAL',
  'SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE',
  'SANDBOX_PAY_PUBLIC_KEY_ID',
] as const;

/**
 * `SANDBOX_APPS`: apps the sandbox knows from the start (and again after a reset), written
 * `appid:secret,appid2:secret2`, so `npm start` can serve a preconfigured mini-program. Marked
 * sensitive: a bad value is reported without echoing the secrets.
 */
function sandboxApps(): EnvField<MpApp[]> {
  return sensitive(
    commaList(
      envField('appid:secret', (raw): MpApp | undefined => {
        const match = /^([A-Za-z0-9_-]+):(\S+)$/.exec(raw);
        return match ? { appid: match[1]!, secret: match[2]! } : undefined;
      }),
    ),
  );
}

/** A value written as is (an id, a serial number). */
function text() {
  return envField('a non-empty value', (raw) => raw || undefined);
}

/** A path to a file this process can read; its content is parsed by the Pay key loader. */
function readableFile() {
  return envField('the path of a readable file', (raw) => {
    try {
      accessSync(raw, constants.R_OK);
      return raw;
    } catch {
      return undefined;
    }
  });
}

/** A finite number >= 0 (0 runs the notification retries back to back). */
function timeScale() {
  return envField('a number >= 0 such as 0.01', (raw) => {
    const value = Number(raw);
    return raw !== '' && Number.isFinite(value) && value >= 0 ? value : undefined;
  });
}

/**
 * The sandbox's configuration: the kit's common fields, the apps known from the start, and the
 * WeChat Pay keys and notifier settings. Keys are the environment variables' names.
 */
export const sandboxConfigSchema = defineConfig({
  ...commonServiceConfig,
  /** `appid:secret,appid2:secret2`: apps known from the start and after every reset. */
  SANDBOX_APPS: sandboxApps().default([]),
  /** The merchant the sandbox's WeChat Pay serves. */
  SANDBOX_PAY_MCHID: text().optional(),
  /** File whose first line is the merchant's APIv3 key (notifications are encrypted with it). */
  SANDBOX_PAY_APIV3_KEY_FILE: readableFile().optional(),
  /** The merchant's certificate (PEM): the key that verifies the merchant's `Authorization`. */
  SANDBOX_PAY_MERCHANT_CERT_FILE: readableFile().optional(),
  /** The platform certificate's private key (PEM), signing when `SANDBOX_PAY_SIGN_WITH=certificate`. */
  SANDBOX_PAY_PLATFORM_KEY_FILE: readableFile().optional(),
  /** The platform certificate's serial number, sent as `Wechatpay-Serial` with its signatures. */
  SANDBOX_PAY_PLATFORM_SERIAL: text().optional(),
  /** The WeChat Pay public key's private half (PEM), signing in `public-key` mode. */
  SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE: readableFile().optional(),
  /** The public key's id (`PUB_KEY_ID_...`), sent as `Wechatpay-Serial` in `public-key` mode. */
  SANDBOX_PAY_PUBLIC_KEY_ID: text().optional(),
  /** Factor on WeChat Pay's notification retry schedule (0.01: the first retry after 150 ms). */
  SANDBOX_PAY_NOTIFY_TIME_SCALE: timeScale().default(0.01),
  /** Which key signs answers and notifications at start (`POST /sandbox/pay/signer` switches it). */
  SANDBOX_PAY_SIGN_WITH: oneOf(['certificate', 'public-key']).default('public-key'),
}).superRefine((config, ctx) => {
  const missing = PAY_KEY_VARIABLES.filter((variable) => config[variable] === undefined);
  if (missing.length === 0 || missing.length === PAY_KEY_VARIABLES.length) return;
  for (const variable of missing) {
    ctx.addIssue({
      code: 'custom',
      path: [variable],
      message: 'expected every SANDBOX_PAY_* key variable once one is set (set all of them or none)',
    });
  }
});

/**
 * Parses and validates the sandbox's configuration; throws a `ConfigError` naming every bad
 * variable (main.ts uses `loadConfigOrExit`, which prints it and exits 1).
 */
export function loadSandboxConfig(env: Env = process.env) {
  return loadConfig(sandboxConfigSchema, env);
}

/** The sandbox's configuration, parsed. */
export type SandboxConfig = ReturnType<typeof loadSandboxConfig>;
