// Rotating the at-rest key ring (SESSION_KEY_ENCRYPTION_KEY_FILE) on real Redis, the file rewritten
// in place as a Kubernetes secret volume would be and hot-reloaded: sessions sealed under the old
// key keep working, new seals and lazy re-seals use the new one, and retiring the old key makes
// only the never-re-sealed values unreadable, with an error that names key ids and nothing secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { scaledTimeout, startInfra, waitFor, type Infra } from '@wxmesh/testing';
import { loadSecrets, type Secrets } from '../src/adapters/secrets.js';
import { createSessionKeyStore, SessionKeyUnreadableError } from '../src/adapters/session-key-store.js';

const RUN = randomBytes(3).toString('hex');
const APPID = 'wx00112233445566bb';
const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;
let dir: string;
let secrets: Secrets;
const reloadErrors: Error[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wxmesh-keyring-'));
  await writeFile(join(dir, 'apps'), `${APPID}=app-secret-${RUN}\n`);
  await writeFile(join(dir, 'keys'), `A=${keyA}\n`);
  infra = await startInfra({ redis: true, kafka: false });
  redis = new Redis(infra.redisUrl);
  secrets = await loadSecrets({ appSecrets: join(dir, 'apps'), encryptionKey: join(dir, 'keys') }, (err) =>
    reloadErrors.push(err),
  );
});

after(async () => {
  secrets?.close();
  redis?.disconnect();
  await infra?.stop();
  await rm(dir, { recursive: true, force: true });
});

const keyOf = (user: string) => `wxm:auth:{o_${RUN}_${user}}:session_key:${APPID}`;
const stored = (user: string) => redis.get(keyOf(user));

/** Rewrites the key file and waits (with a deadline) until the running box shows it: `reloaded()`. */
async function rotateTo(text: string, reloaded: () => boolean) {
  await writeFile(join(dir, 'keys'), text);
  await waitFor(reloaded, { timeoutMs: scaledTimeout(5_000), message: 'key file reloaded' });
}

test('rotating [A] → [B, A] → [B]: old sessions still decrypt, new and re-sealed ones name B, never-re-sealed ones fail precisely', async () => {
  const store = createSessionKeyStore(redis, secrets.box, { ttlMs: 60_000 });
  const user = (n: string) => `o_${RUN}_${n}`;
  await store.keep(user('read'), APPID, 'session-key-read');
  await store.keep(user('idle'), APPID, 'session-key-idle');
  assert.match((await stored('read'))!, /^v2\.A\./);
  const probeUnderA = secrets.box.seal('probe', 'probe');

  await rotateTo(`B=${keyB}\nA=${keyA}\n`, () => secrets.box.seal('probe', 'probe').startsWith('v2.B.'));
  assert.equal(await store.read(user('read'), APPID), 'session-key-read', 'sealed under A, still decrypts');
  assert.match((await stored('read'))!, /^v2\.B\./, 're-sealed under B on read');
  assert.ok((await redis.pttl(keyOf('read'))) > 0, 'the re-seal keeps the TTL');
  assert.match((await stored('idle'))!, /^v2\.A\./, 'not read, not re-sealed');
  await store.keep(user('new'), APPID, 'session-key-new');
  assert.match((await stored('new'))!, /^v2\.B\./, 'new seals use B');

  await rotateTo(`B=${keyB}\n`, () => secrets.box.unseal(probeUnderA, 'probe').outcome === 'retired-key');
  assert.equal(await store.read(user('read'), APPID), 'session-key-read');
  assert.equal(await store.read(user('new'), APPID), 'session-key-new');
  await assert.rejects(store.read(user('idle'), APPID), (err: Error) => {
    assert.ok(err instanceof SessionKeyUnreadableError);
    assert.equal(
      err.message,
      'session_key sealed with at-rest key "A", which the key ring does not list (it lists: B)',
    );
    for (const secret of [keyA, keyB, 'session-key-idle']) assert.ok(!err.message.includes(secret));
    return true;
  });
  assert.deepEqual(reloadErrors, []);
});
