// Replays the send queue's dead letters: each goes back to QUEUED with a fresh attempts budget
// and is sent again by the workers. An operator runs it after fixing what killed them (WeChat
// down for hours, a revoked AppSecret):
//   REDIS_URL=redis://… [REDIS_MODE=… (see docs/redis.md)] npm run replay-dead-letters -w services/message-router -- --all
//   … -- <delivery id> [<delivery id> …]     only those
//   … -- --list                               show them, change nothing
// Deliveries dead-lettered because a worker died mid-send may have reached the user: the list
// says so in their reason; replay those only after checking.
import { parseArgs } from 'node:util';
import {
  checkRedisConfig,
  defineConfig,
  duration,
  loadConfigOrExit,
  redisConfig,
  redisConnection,
  redisUrl,
} from '@wxmesh/config';
import { createRedisClient } from '@wxmesh/redis';
import { createDeliveryStore } from '../src/adapters/delivery-store.js';

const config = loadConfigOrExit(
  defineConfig({
    REDIS_URL: redisUrl(),
    ...redisConfig,
    DEPENDENCY_TIMEOUT_MS: duration().default(5_000),
  }).superRefine(checkRedisConfig),
);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { all: { type: 'boolean' }, list: { type: 'boolean' } },
});
if (!values.all && !values.list && positionals.length === 0) {
  process.stderr.write('usage: replay-dead-letters (--all | --list | <delivery id>...)\n');
  process.exit(2);
}

/** Connection trouble, as one JSON line on stderr (stdout is the tool's answer). */
const stderrLogger = {
  warn: (fields: Record<string, unknown>, message: string) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', ...fields, msg: message })}\n`),
  info: (fields: Record<string, unknown>, message: string) =>
    process.stderr.write(`${JSON.stringify({ level: 'info', ...fields, msg: message })}\n`),
};
const redis = createRedisClient({
  connection: redisConnection(config),
  name: 'replay-dead-letters',
  logger: stderrLogger,
  timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
});
try {
  await redis.connect();
  const store = createDeliveryStore(redis, { maxDepth: Number.MAX_SAFE_INTEGER, retentionMs: 0 });
  const wanted = new Set(positionals);
  let replayed = 0;
  for (const letter of await store.deadLetters(100_000)) {
    if (values.list) {
      process.stdout.write(`${letter.deliveryId}\t${letter.reason}\n`);
      continue;
    }
    if (!values.all && !wanted.has(letter.deliveryId)) continue;
    const delivery = await store.get(letter.deliveryId);
    if (await store.replay(letter.entryId, letter.deliveryId, delivery?.priority ?? 'NORMAL', Date.now()))
      replayed++;
  }
  if (!values.list) process.stdout.write(`replayed ${replayed} dead letter${replayed === 1 ? '' : 's'}\n`);
} finally {
  redis.disconnect();
}
