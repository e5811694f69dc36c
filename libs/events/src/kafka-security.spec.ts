import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { kafkaConnectionOptions, KafkaSecurityConfigError } from './kafka-security.js';

const dir = mkdtempSync(join(tmpdir(), 'wxmesh-kafka-security-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const PASSWORD = 'correct horse battery staple';

test('plaintext by default: no ssl, no sasl', () => {
  assert.deepEqual(kafkaConnectionOptions({}), {});
  assert.deepEqual(kafkaConnectionOptions({ KAFKA_SECURITY: 'plaintext' }), {});
});

test('sasl_ssl reads the password file (trailing newline dropped) and the CA, cert and key files', () => {
  const options = kafkaConnectionOptions({
    KAFKA_SECURITY: 'sasl_ssl',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'session',
    KAFKA_SASL_PASSWORD_FILE: file('password', `${PASSWORD}\n`),
    KAFKA_TLS_CA_FILE: file('ca.pem', 'CA PEM'),
    KAFKA_TLS_CERT_FILE: file('client.pem', 'CERT PEM'),
    KAFKA_TLS_KEY_FILE: file('client.key', 'KEY PEM'),
  });
  assert.deepEqual(options, {
    ssl: { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM' },
    sasl: { mechanism: 'scram-sha-512', username: 'session', password: PASSWORD },
  });
});

test('ssl without a CA trusts the default CAs; sasl_plaintext has no ssl', () => {
  assert.deepEqual(kafkaConnectionOptions({ KAFKA_SECURITY: 'ssl' }), { ssl: true });
  const options = kafkaConnectionOptions({
    KAFKA_SECURITY: 'sasl_plaintext',
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'u',
    KAFKA_SASL_PASSWORD_FILE: file('plain-password', PASSWORD),
  });
  assert.deepEqual(options, { sasl: { mechanism: 'plain', username: 'u', password: PASSWORD } });
});

function assertRefused(run: () => unknown, variable: string, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof KafkaSecurityConfigError, String(err));
    assert.equal(err.variable, variable);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
    return true;
  });
}

test('a missing SASL setting is refused by name', () => {
  assertRefused(
    () => kafkaConnectionOptions({ KAFKA_SECURITY: 'sasl_ssl', KAFKA_SASL_MECHANISM: 'scram-sha-256' }),
    'KAFKA_SASL_USERNAME',
    /^KAFKA_SASL_USERNAME: required when KAFKA_SECURITY=sasl_ssl/,
  );
});

test('an unreadable or empty secret file is refused by name and path, never by content', () => {
  const base = {
    KAFKA_SECURITY: 'sasl_plaintext',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'u',
  } as const;
  assertRefused(
    () => kafkaConnectionOptions({ ...base, KAFKA_SASL_PASSWORD_FILE: join(dir, 'absent') }),
    'KAFKA_SASL_PASSWORD_FILE',
    /cannot read .*absent \(ENOENT\)/,
  );
  assertRefused(
    () => kafkaConnectionOptions({ ...base, KAFKA_SASL_PASSWORD_FILE: file('blank', '\n') }),
    'KAFKA_SASL_PASSWORD_FILE',
    /is empty/,
  );
});

test('half an mTLS pair, or a setting the protocol does not use, is refused', () => {
  assertRefused(
    () => kafkaConnectionOptions({ KAFKA_SECURITY: 'ssl', KAFKA_TLS_CERT_FILE: file('c.pem', 'C') }),
    'KAFKA_TLS_KEY_FILE',
    /needs both/,
  );
  assertRefused(
    () => kafkaConnectionOptions({ KAFKA_SECURITY: 'plaintext', KAFKA_SASL_USERNAME: 'u' }),
    'KAFKA_SASL_USERNAME',
    /KAFKA_SECURITY=plaintext does not use it/,
  );
  assertRefused(
    () =>
      kafkaConnectionOptions({
        KAFKA_SECURITY: 'sasl_plaintext',
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD_FILE: file('p2', PASSWORD),
        KAFKA_TLS_CA_FILE: file('ca2.pem', 'CA'),
      }),
    'KAFKA_TLS_CA_FILE',
    /does not use it/,
  );
});
