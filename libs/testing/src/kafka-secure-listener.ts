import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { createKafkaTlsFiles, type KafkaTlsFiles } from './kafka-tls.js';

/** What `StartKafkaOptions.saslSsl` asks of the broker's SASL_SSL listener. */
export interface KafkaSaslSslOptions {
  /** The SCRAM-SHA-512 user created when the storage is formatted. */
  readonly username: string;
  readonly password: string;
  /**
   * Refuse clients without a certificate signed by the test CA (`ssl.client.auth=required`), as an
   * mTLS cluster does; default false (the certificate then is only offered, not demanded).
   */
  readonly requireClientCertificate?: boolean;
}

/** A broker's SASL_SSL listener and the files a client needs to reach it. */
export interface KafkaSaslSslListener {
  /** `127.0.0.1:<port>` of the SASL_SSL listener, the value for KAFKA_BROKERS. */
  readonly brokers: string;
  readonly port: number;
  /** The SASL mechanism, as KAFKA_SASL_MECHANISM spells it. */
  readonly mechanism: 'scram-sha-512';
  readonly username: string;
  readonly password: string;
  readonly requireClientCertificate: boolean;
  /** The CA (`KAFKA_TLS_CA_FILE`), client certificate and key (mTLS) and the broker's keystore. */
  readonly tls: KafkaTlsFiles;
}

/**
 * Prepares a SASL_SSL listener for a broker whose scratch directory is `runDir`: a free port and
 * fresh certificates in `runDir/tls`.
 */
export async function saslSslListener(
  runDir: string,
  options: KafkaSaslSslOptions,
  log: (line: string) => void,
): Promise<KafkaSaslSslListener> {
  const tlsDir = join(runDir, 'tls');
  await mkdir(tlsDir, { mode: 0o700 });
  const [port, tls] = await Promise.all([freePort(), createKafkaTlsFiles(tlsDir, log)]);
  return {
    brokers: `127.0.0.1:${port}`,
    port,
    mechanism: 'scram-sha-512',
    username: options.username,
    password: options.password,
    requireClientCertificate: options.requireClientCertificate ?? false,
    tls,
  };
}

/**
 * The server.properties lines of the SASL_SSL listener: PEM key and trust stores (Kafka reads PEM
 * natively, no Java keystore needed) and SCRAM-SHA-512 as its only mechanism. The listener entry
 * itself goes into `listeners` and `advertised.listeners`.
 */
export function saslSslProperties(listener: KafkaSaslSslListener): {
  listener: string;
  properties: string[];
} {
  return {
    listener: `SASL_SSL://${listener.brokers}`,
    properties: [
      'sasl.enabled.mechanisms=SCRAM-SHA-512',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=' +
        'org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${listener.tls.brokerKeystoreFile}`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${listener.tls.caFile}`,
      `ssl.client.auth=${listener.requireClientCertificate ? 'required' : 'none'}`,
    ],
  };
}

/** `kafka-storage format` arguments that create the listener's SCRAM user with the cluster's metadata. */
export function scramFormatArgs(listener: KafkaSaslSslListener): string[] {
  return ['--add-scram', `SCRAM-SHA-512=[name=${listener.username},password=${listener.password}]`];
}
