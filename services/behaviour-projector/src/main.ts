import { randomBytes } from 'node:crypto';
import { loadConfigOrExit } from '@wxmesh/config';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { AuthVerifyService } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { createPeerClient, definePeer, echoService, runService } from '@wxmesh/rpc';
import { startBearerCheck } from '@wxmesh/session-tokens';
import { createReadModelStore } from './adapters/read-models.js';
import { projectorConfigSchema } from './config.js';
import { createProjector } from './app/consume-events.js';
import { newGenerationId } from './domain/generation-id.js';
import { createBehaviourViewService } from './service.js';

const config = loadConfigOrExit(projectorConfigSchema);
const storeOptions = {
  prefix: config.KEY_PREFIX,
  newGeneration: () => newGenerationId(Date.now, randomBytes),
  dedupeWindowMs: config.DEDUPE_WINDOW,
};

await runService('behaviour-projector', config, async ({ logger }) => {
  const redisOptions = { url: config.REDIS_URL, logger, timeoutMs: config.DEPENDENCY_TIMEOUT_MS };
  // Views: many small concurrent reads, which auto-pipelining batches into few writes.
  const redis = createRedisClient({ ...redisOptions, name: 'behaviour-projector', autoPipelining: true });
  // The projector: one script per chunk, which must reach Redis at once (auto-pipelining defers it
  // to setImmediate, after the next chunk was decoded) so that Redis folds a chunk while this
  // process decodes the next one. A chunk's script may run long on a busy server; the consumer
  // retries it and no caller waits on it, so its wait is longer.
  const applyRedis = createRedisClient({
    ...redisOptions,
    name: 'behaviour-projector-apply',
    timeoutMs: Math.max(config.DEPENDENCY_TIMEOUT_MS, 30_000),
  });
  await Promise.all([redis.connect(), applyRedis.connect()]);
  const kafka = createKafka({ clientId: `behaviour-projector-${process.pid}`, config, logger });
  if (config.EVENTS_CREATE_TOPICS) {
    await ensureBehaviourTopics(kafka, {
      topic: config.EVENTS_TOPIC,
      dlqTopic: config.EVENTS_DLQ_TOPIC,
      logger,
    });
  }
  const store = createReadModelStore(redis, storeOptions);
  const projector = createProjector({
    kafka,
    store: createReadModelStore(applyRedis, storeOptions),
    config,
    groupId: config.CONSUMER_GROUP,
    logger,
  });
  await projector.start();
  // Users who call over the mini-program's own HTTPS domain come with a session token from Login.
  const bearer =
    config.AUTH_VERIFY_ADDR === undefined ? undefined : await startBearerCheckAt(config.AUTH_VERIFY_ADDR);

  return {
    services: [createBehaviourViewService({ store }), echoService],
    verifySessionToken: bearer?.verifySessionToken,
    dependencies: [redisDependency(redis)],
    // Leaving the group at once hands the partitions to the other replicas without waiting for
    // the session timeout; reads keep being served until the server has drained.
    onDrain: () => projector.stop(),
    closers: [
      { name: 'session tokens', run: async () => bearer?.stop() },
      { name: 'redis', run: () => redis.quit() },
      { name: 'redis (apply)', run: () => applyRedis.quit() },
    ],
  };

  /**
   * Bearer tokens, verified by auth-verify's VerifySession behind this process's own warm cache
   * (kept correct by its private SessionEnded feed on the behaviour topic, which must exist), so a
   * repeat token costs no call. `VERIFY_CACHE_TTL=0`: every Bearer call asks auth-verify.
   */
  async function startBearerCheckAt(address: string) {
    // The feed reads the behaviour topic where session publishes, even when this projector folds another.
    if (config.VERIFY_CACHE_TTL > 0 && config.EVENTS_CREATE_TOPICS && config.EVENTS_TOPIC !== BEHAVIOUR_TOPIC)
      await ensureBehaviourTopics(kafka, { logger });
    return startBearerCheck({
      authVerify: createPeerClient(definePeer(AuthVerifyService, ['verifySession']), {
        address,
        from: 'behaviour-projector',
        defaultDeadlineMs: config.PEER_DEADLINE_MS,
      }),
      service: 'behaviour-projector',
      kafka,
      logger,
      now: Date.now,
      config,
    });
  }
});
