import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureCommand, runCommand, tailText } from './host-tools.js';

/** The PEM files of a throw-away CA, the broker's certificate signed by it and a client certificate. */
export interface KafkaTlsFiles {
  /** The CA certificate: clients trust it (`KAFKA_TLS_CA_FILE`), the broker checks client certificates with it. */
  readonly caFile: string;
  /** The broker's PKCS#8 key followed by its certificate: a Kafka `ssl.keystore.type=PEM` keystore. */
  readonly brokerKeystoreFile: string;
  /** A client certificate signed by the CA (`KAFKA_TLS_CERT_FILE`, for mTLS). */
  readonly clientCertFile: string;
  /** The client certificate's private key (`KAFKA_TLS_KEY_FILE`). */
  readonly clientKeyFile: string;
}

const VALID_DAYS = '2';

async function openssl(binary: string, args: readonly string[], cwd: string): Promise<void> {
  const result = await runCommand(binary, args, { cwd });
  if (result.code !== 0) {
    throw new Error(`openssl ${args[0]} failed:\n${tailText(result.output, 20)}`);
  }
}

/** Creates a key and a certificate for `name` signed by the CA in `dir`, with the given subjectAltName. */
async function signedCertificate(
  binary: string,
  dir: string,
  name: string,
  altNames: string,
): Promise<{ certFile: string; keyFile: string }> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await writeFile(extensions, `subjectAltName=${altNames}\n`);
  await openssl(
    binary,
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`],
    dir,
  );
  await openssl(
    binary,
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      VALID_DAYS,
      '-extfile',
      extensions,
    ],
    dir,
  );
  return { certFile, keyFile };
}

/**
 * Generates, with openssl, a CA valid for two days, a broker certificate for `127.0.0.1` and
 * `localhost` (what a kafkajs client checks against the address it dials) and a client certificate,
 * all into `dir`. Keys are unencrypted PKCS#8, which Kafka's PEM keystore reads without a password.
 */
export async function createKafkaTlsFiles(dir: string, log: (line: string) => void): Promise<KafkaTlsFiles> {
  const binary = await ensureCommand('openssl', ['openssl'], log);
  await openssl(
    binary,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      VALID_DAYS,
      '-subj',
      '/CN=wxmesh-test-kafka-ca',
    ],
    dir,
  );
  const broker = await signedCertificate(binary, dir, 'broker', 'IP:127.0.0.1,DNS:localhost');
  const client = await signedCertificate(binary, dir, 'client', 'DNS:wxmesh-test-client');
  const brokerKeystoreFile = join(dir, 'broker-keystore.pem');
  const [key, cert] = await Promise.all([
    readFile(broker.keyFile, 'utf8'),
    readFile(broker.certFile, 'utf8'),
  ]);
  await writeFile(brokerKeystoreFile, key + cert, { mode: 0o600 });
  return {
    caFile: join(dir, 'ca.pem'),
    brokerKeystoreFile,
    clientCertFile: client.certFile,
    clientKeyFile: client.keyFile,
  };
}
