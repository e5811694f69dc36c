import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { saslSslListener, saslSslProperties, scramFormatArgs } from './kafka-secure-listener.js';

test('the SASL_SSL listener: certificates a client verifies for 127.0.0.1, PEM stores, the SCRAM user', async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'wxmesh-kafka-listener-'));
  try {
    const listener = await saslSslListener(
      runDir,
      { username: 'svc', password: 'pw', requireClientCertificate: true },
      () => {},
    );
    assert.equal(listener.brokers, `127.0.0.1:${listener.port}`);

    const ca = new X509Certificate(await readFile(listener.tls.caFile));
    const keystore = await readFile(listener.tls.brokerKeystoreFile, 'utf8');
    assert.match(keystore, /^-----BEGIN PRIVATE KEY-----/, 'an unencrypted PKCS#8 key first');
    const broker = new X509Certificate(keystore.slice(keystore.indexOf('-----BEGIN CERTIFICATE-----')));
    assert.ok(broker.verify(ca.publicKey), 'the broker certificate is signed by the CA');
    assert.equal(broker.checkIP('127.0.0.1'), '127.0.0.1');
    assert.ok(broker.checkPrivateKey(createPrivateKey(keystore)), 'the keystore key matches its certificate');
    const client = new X509Certificate(await readFile(listener.tls.clientCertFile));
    assert.ok(client.verify(ca.publicKey), 'the client certificate is signed by the CA');
    assert.ok(client.checkPrivateKey(createPrivateKey(await readFile(listener.tls.clientKeyFile))));

    const { listener: entry, properties } = saslSslProperties(listener);
    assert.equal(entry, `SASL_SSL://127.0.0.1:${listener.port}`);
    assert.ok(properties.includes('sasl.enabled.mechanisms=SCRAM-SHA-512'));
    assert.ok(properties.includes(`ssl.keystore.location=${listener.tls.brokerKeystoreFile}`));
    assert.ok(properties.includes('ssl.client.auth=required'));
    assert.deepEqual(scramFormatArgs(listener), ['--add-scram', 'SCRAM-SHA-512=[name=svc,password=pw]']);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
