import { readFileSync } from 'node:fs';
import type { SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';

/** How a client reaches the brokers: Kafka's `security.protocol`, lower-case. */
export type KafkaSecurityProtocol = 'plaintext' | 'ssl' | 'sasl_ssl' | 'sasl_plaintext';

/** The SASL mechanisms the client offers (kafkajs supports these without a plug-in). */
export type KafkaSaslMechanism = 'scram-sha-256' | 'scram-sha-512' | 'plain';

/**
 * The Kafka connection settings of a service config, named as the environment names them. Every
 * field is optional: unset means a plaintext connection, as local runs use.
 */
export interface KafkaSecurityConfig {
  readonly KAFKA_SECURITY?: KafkaSecurityProtocol;
  readonly KAFKA_SASL_MECHANISM?: KafkaSaslMechanism;
  readonly KAFKA_SASL_USERNAME?: string;
  /** A file holding the SASL password (a mounted Secret); its trailing newline is ignored. */
  readonly KAFKA_SASL_PASSWORD_FILE?: string;
  /** PEM CA bundle the brokers' certificates chain to; unset trusts Node's default CAs. */
  readonly KAFKA_TLS_CA_FILE?: string;
  /** PEM client certificate for mTLS; needs {@link KafkaSecurityConfig.KAFKA_TLS_KEY_FILE}. */
  readonly KAFKA_TLS_CERT_FILE?: string;
  /** PEM private key of the client certificate for mTLS. */
  readonly KAFKA_TLS_KEY_FILE?: string;
}

/** The kafkajs connection options {@link kafkaConnectionOptions} derives. */
export interface KafkaConnectionOptions {
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
}

/** A Kafka connection setting that is missing, inconsistent or unreadable; names the variable. */
export class KafkaSecurityConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'KafkaSecurityConfigError';
  }
}

/**
 * Reads a setting's file at start-up. The error names the variable and the path, never the
 * content: the file may hold a secret.
 */
function readSettingFile(variable: string, path: string): string {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new KafkaSecurityConfigError(variable, `cannot read ${path} (${code})`);
  }
  if (content.trim() === '') throw new KafkaSecurityConfigError(variable, `${path} is empty`);
  return content;
}

function tlsOptions(config: KafkaSecurityConfig): ConnectionOptions | boolean {
  const { KAFKA_TLS_CA_FILE: caFile, KAFKA_TLS_CERT_FILE: certFile, KAFKA_TLS_KEY_FILE: keyFile } = config;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'KAFKA_TLS_CERT_FILE' : 'KAFKA_TLS_KEY_FILE';
    throw new KafkaSecurityConfigError(missing, 'mTLS needs both KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE');
  }
  if (caFile === undefined && certFile === undefined) return true;
  return {
    ...(caFile === undefined ? {} : { ca: [readSettingFile('KAFKA_TLS_CA_FILE', caFile)] }),
    ...(certFile === undefined || keyFile === undefined
      ? {}
      : {
          cert: readSettingFile('KAFKA_TLS_CERT_FILE', certFile),
          key: readSettingFile('KAFKA_TLS_KEY_FILE', keyFile),
        }),
  };
}

function saslOptions(config: KafkaSecurityConfig, protocol: KafkaSecurityProtocol): SASLOptions {
  const required = (variable: keyof KafkaSecurityConfig): string => {
    const value = config[variable];
    if (value === undefined || value === '') {
      throw new KafkaSecurityConfigError(variable, `required when KAFKA_SECURITY=${protocol}`);
    }
    return value;
  };
  const mechanism = required('KAFKA_SASL_MECHANISM') as KafkaSaslMechanism;
  const username = required('KAFKA_SASL_USERNAME');
  const passwordFile = required('KAFKA_SASL_PASSWORD_FILE');
  const password = readSettingFile('KAFKA_SASL_PASSWORD_FILE', passwordFile).replace(/\r?\n$/, '');
  return { mechanism, username, password };
}

/** Settings that only make sense with another protocol: rejected so a typo'd deployment does not connect in plaintext. */
function rejectUnused(config: KafkaSecurityConfig, protocol: KafkaSecurityProtocol): void {
  const usesSasl = protocol.startsWith('sasl_');
  const usesTls = protocol === 'ssl' || protocol === 'sasl_ssl';
  const unused: Array<keyof KafkaSecurityConfig> = [
    ...(usesSasl
      ? []
      : (['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD_FILE'] as const)),
    ...(usesTls ? [] : (['KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE'] as const)),
  ];
  const set = unused.find((variable) => config[variable] !== undefined);
  if (set) throw new KafkaSecurityConfigError(set, `is set but KAFKA_SECURITY=${protocol} does not use it`);
}

/**
 * Turns a service's Kafka connection settings into kafkajs `ssl` and `sasl` options, reading the
 * CA, certificate, key and password files once, at start-up. A missing, inconsistent or unreadable
 * setting throws a {@link KafkaSecurityConfigError} naming the variable (never a file's content), so
 * the process stops before it connects. A rotated password or certificate takes a restart.
 */
export function kafkaConnectionOptions(config: KafkaSecurityConfig): KafkaConnectionOptions {
  const protocol = config.KAFKA_SECURITY ?? 'plaintext';
  rejectUnused(config, protocol);
  return {
    ...(protocol === 'ssl' || protocol === 'sasl_ssl' ? { ssl: tlsOptions(config) } : {}),
    ...(protocol.startsWith('sasl_') ? { sasl: saslOptions(config, protocol) } : {}),
  };
}
