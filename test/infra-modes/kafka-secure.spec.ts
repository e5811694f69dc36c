import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BehaviourViewService, SessionService } from '@wxmesh/contracts';
import { createKafka, decodeBehaviourEvent, type KafkaSecurityConfig } from '@wxmesh/events';
import {
  onExitCleanup,
  peerClient,
  scaledTimeout,
  startKafka,
  startRedis,
  startServiceProcess,
  stopProcesses,
  waitFor,
  type KafkaBroker,
  type KafkaSaslSslListener,
  type RedisServer,
  type ServiceProcess,
} from '@wxmesh/testing';

// The services against Kafka as production runs it: TLS with a client certificate (mTLS) and
// SASL/SCRAM-SHA-512, every setting from config and secret files as a Kubernetes Secret mounts them.

const TOPIC = 'wxmesh.behaviour.v1';
const APPID = 'wx0123456789abcdef';
const OPENID = `o_kafka_secure_${randomBytes(4).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(12).toString('hex')}`;
const SILENT = { info: () => {}, warn: () => {} };

const secrets = mkdtempSync(join(tmpdir(), 'wxmesh-kafka-secrets-'));
const forgetSecrets = onExitCleanup(() => rmSync(secrets, { recursive: true, force: true }));
let kafka: KafkaBroker | undefined;
let redis: RedisServer | undefined;
/** Every service process, recorded as soon as it is spawned. */
const spawned: ChildProcess[] = [];

before(async () => {
  [kafka, redis] = await Promise.all([
    startKafka({
      saslSsl: { username: 'wxmesh-session', password: PASSWORD, requireClientCertificate: true },
    }),
    startRedis(),
  ]);
});

after(async () => {
  await stopProcesses(spawned);
  await Promise.all([kafka?.stop(), redis?.stop()]);
  rmSync(secrets, { recursive: true, force: true });
  forgetSecrets();
});

/** The client settings a service gets, the password in a file of its own as a mounted Secret. */
function securitySettings(listener: KafkaSaslSslListener, password: string) {
  const passwordFile = join(secrets, `password-${randomBytes(4).toString('hex')}`);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  return {
    KAFKA_SECURITY: 'sasl_ssl',
    KAFKA_SASL_MECHANISM: listener.mechanism,
    KAFKA_SASL_USERNAME: listener.username,
    KAFKA_SASL_PASSWORD_FILE: passwordFile,
    KAFKA_TLS_CA_FILE: listener.tls.caFile,
    KAFKA_TLS_CERT_FILE: listener.tls.clientCertFile,
    KAFKA_TLS_KEY_FILE: listener.tls.clientKeyFile,
  } satisfies Record<keyof KafkaSecurityConfig, string>;
}

function startOnSaslSsl(
  name: string,
  password: string,
  change: (settings: Record<string, string>) => Record<string, string> = (settings) => settings,
): Promise<ServiceProcess> {
  const listener = kafka!.saslSsl!;
  return startServiceProcess(name, {
    env: {
      REDIS_URL: redis!.url,
      KAFKA_BROKERS: listener.brokers,
      ...change(securitySettings(listener, password)),
    },
    onSpawn: (child) => spawned.push(child),
  });
}

/** Reads the behaviour topic over SASL_SSL, as a service would, until `openid`'s SessionStarted arrives. */
async function readSessionStarted(openid: string): Promise<string> {
  const listener = kafka!.saslSsl!;
  const security = securitySettings(listener, PASSWORD) as KafkaSecurityConfig;
  const client = createKafka({
    clientId: 'kafka-secure-spec',
    brokers: [listener.brokers],
    security,
    logger: SILENT,
  });
  const consumer = client.consumer({ groupId: `kafka-secure-spec-${randomBytes(4).toString('hex')}` });
  const types: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== openid || !message.value) return;
        types.push(decodeBehaviourEvent(message.value).payload.case ?? 'none');
      },
    });
    await waitFor(() => types.includes('sessionStarted'), {
      timeoutMs: scaledTimeout(30_000),
      message: `a sessionStarted record for ${openid} read back over SASL_SSL`,
    });
    return types.join(',');
  } finally {
    await consumer.disconnect();
  }
}

test('session produces and the projector consumes over SASL_SSL with mTLS; the record reads back over SASL_SSL', async () => {
  const [session, projector] = await Promise.all([
    startOnSaslSsl('session', PASSWORD),
    startOnSaslSsl('behaviour-projector', PASSWORD),
  ]);
  const client = peerClient(SessionService, session.grpcAddress, 'auth-verify');
  const views = peerClient(BehaviourViewService, projector.grpcAddress, 'operator');
  const created = await client.createSession({
    appid: APPID,
    openid: OPENID,
    attributes: { via: 'sasl_ssl' },
  });
  assert.ok(created.session?.sessionId, 'CreateSession answered');
  assert.match(await readSessionStarted(OPENID), /sessionStarted/);
  await waitFor(async () => (await views.getUserJourney({ openid: OPENID })).journey?.sessionsStarted === 1, {
    timeoutMs: scaledTimeout(30_000),
    message: `the projector folded ${OPENID}'s SessionStarted into the journey`,
  });
});

test('a wrong SASL password stops the service at start-up with a clear error that does not echo it', async () => {
  const failed = await startOnSaslSsl('session', WRONG_PASSWORD).then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  assert.ok(failed, 'the service must not start with a wrong password');
  assert.match(failed.message, /SASL SCRAM SHA512 authentication failed/);
  assert.match(failed.message, /invalid credentials/);
  assert.doesNotMatch(failed.message, new RegExp(WRONG_PASSWORD));
  assert.doesNotMatch(failed.message, new RegExp(PASSWORD));
});

test('a missing SASL setting stops the service at start-up, naming the variable', async () => {
  const failed = await startOnSaslSsl(
    'session',
    PASSWORD,
    ({ KAFKA_SASL_USERNAME: _omitted, ...rest }) => rest,
  ).then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  assert.ok(failed, 'the service must not start without KAFKA_SASL_USERNAME');
  assert.match(failed.message, /KAFKA_SASL_USERNAME: required when KAFKA_SECURITY=sasl_ssl/);
  assert.doesNotMatch(failed.message, new RegExp(PASSWORD));
});
