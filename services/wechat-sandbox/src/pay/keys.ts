import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SandboxConfig } from '../config.js';

/** Which of the sandbox's two keys signs WeChat Pay answers and notifications. */
export type SignerKind = 'certificate' | 'public-key';

/** The keys the sandbox signs, verifies and encrypts with, as WeChat Pay does with its own. */
export interface PayKeys {
  readonly mchid: string;
  readonly apiV3Key: string;
  /** Verifies the merchant's `Authorization` signatures. */
  readonly merchantKey: KeyObject;
  /** The platform certificate's key and the WeChat Pay public key, each with its serial / id. */
  readonly signers: Readonly<Record<SignerKind, { readonly id: string; readonly key: KeyObject }>>;
}

/** The configuration fields the Pay keys come from. */
export type PayKeyConfig = Pick<
  SandboxConfig,
  | 'SANDBOX_PAY_MCHID'
  | 'SANDBOX_PAY_APIV3_KEY_FILE'
  | 'SANDBOX_PAY_MERCHANT_CERT_FILE'
  | 'SANDBOX_PAY_PLATFORM_KEY_FILE'
  | 'SANDBOX_PAY_PLATFORM_SERIAL'
  | 'SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE'
  | 'SANDBOX_PAY_PUBLIC_KEY_ID'
>;

type KeyFileVariable = Extract<keyof PayKeyConfig, `${string}_FILE`>;

/** Reads and parses one key file; a failure names the variable that points at it. */
function fromFile<T>(config: PayKeyConfig, variable: KeyFileVariable, parse: (text: string) => T): T {
  try {
    return parse(readFileSync(config[variable]!, 'utf8'));
  } catch (error) {
    throw new Error(`${variable}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Loads the Pay keys from the files the configuration names, at start-up. Undefined when no Pay
 * key is configured (the config guarantees all or none): the Pay paths then answer 503. A file that
 * does not parse stops the start, naming its variable.
 */
export function loadPayKeys(config: PayKeyConfig): PayKeys | undefined {
  if (config.SANDBOX_PAY_MCHID === undefined) return undefined;
  return {
    mchid: config.SANDBOX_PAY_MCHID,
    apiV3Key: fromFile(config, 'SANDBOX_PAY_APIV3_KEY_FILE', (t) => t.trim().split(/\r?\n/)[0]!.trim()),
    merchantKey: fromFile(config, 'SANDBOX_PAY_MERCHANT_CERT_FILE', (t) => new X509Certificate(t).publicKey),
    signers: {
      certificate: {
        id: config.SANDBOX_PAY_PLATFORM_SERIAL!,
        key: fromFile(config, 'SANDBOX_PAY_PLATFORM_KEY_FILE', createPrivateKey),
      },
      'public-key': {
        id: config.SANDBOX_PAY_PUBLIC_KEY_ID!,
        key: fromFile(config, 'SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE', createPrivateKey),
      },
    },
  };
}
