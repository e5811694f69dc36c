import { randomBytes } from 'node:crypto';
import { loadConfigOrExit, redisConnection } from '@wxmesh/config';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { AuthVerifyService } from '@wxmesh/contracts';
import { BEHAVIOUR_TOPIC, ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { createPeerClient, definePeer, echoService, runService } from '@wxmesh/rpc';
import { startBearerCheck } from '@wxmesh/session-tokens';
import { createApplyRedis, readModelStoreOptions } from './adapters/read-model-redis.js';
import { createReadModelStore } from './adapters/read-models.js';
import { projectorConfigSchema } from './config.js';
import { createProjector } from './app/consume-events.js';
import { newGenerationId } from './domain/generation-id.js';
import { createBehaviourViewService } from './service.js';

const config = loadConfigOrExit(projectorConfigSchema);
const storeOptions = readModelStoreOptions(config, () => newGenerationId(Date.now, randomBytes));

await runService('behaviour-projector', config, async ({ logger }) => {
  // Views: many small concurrent reads, which auto-pipelining batches into few writes (per node on a
  // Redis Cluster).
  const redis = createRedisClient({
    connection: redisConnection(config),
    name: 'behaviour-projector',
    logger,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
    autoPipelining: true,
  });
  // The projector's own connection (see createApplyRedis).
  const applyRedis = createApplyRedis(config, logger, 'behaviour-projector-apply');
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
