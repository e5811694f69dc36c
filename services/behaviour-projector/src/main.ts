import { Redis } from 'ioredis';
import { loadConfigOrExit } from '@wxmesh/config';
import { AuthVerifyService } from '@wxmesh/contracts';
import { ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { createPeerClient, definePeer, echoService, runService, sessionVerifierFrom } from '@wxmesh/rpc';
import { createReadModelStore } from './adapters/read-models.js';
import { projectorConfigSchema } from './config.js';
import { createProjector, newGenerationId } from './projector.js';
import { createBehaviourViewService } from './service.js';

const config = loadConfigOrExit(projectorConfigSchema);

await runService('behaviour-projector', config, async ({ logger }) => {
  // Views: many small concurrent reads, which auto-pipelining batches into few writes.
  const redis = new Redis(config.REDIS_URL, { enableAutoPipelining: true, lazyConnect: true });
  // The projector: one script per chunk, which must reach Redis at once (auto-pipelining defers it
  // to setImmediate, after the next chunk was decoded) so that Redis folds a chunk while this
  // process decodes the next one.
  const applyRedis = new Redis(config.REDIS_URL, { lazyConnect: true });
  await Promise.all([redis.connect(), applyRedis.connect()]);
  const kafka = createKafka({
    clientId: `behaviour-projector-${process.pid}`,
    brokers: config.KAFKA_BROKERS,
    logger,
  });
  if (config.EVENTS_CREATE_TOPICS) {
    await ensureBehaviourTopics(kafka, {
      topic: config.EVENTS_TOPIC,
      dlqTopic: config.EVENTS_DLQ_TOPIC,
      logger,
    });
  }
  const storeOptions = { prefix: config.KEY_PREFIX, newGeneration: newGenerationId };
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
  const authVerify =
    config.AUTH_VERIFY_ADDR === undefined
      ? undefined
      : createPeerClient(definePeer(AuthVerifyService, ['verifySession']), {
          address: config.AUTH_VERIFY_ADDR,
          from: 'behaviour-projector',
        });

  return {
    services: [createBehaviourViewService({ store }), echoService],
    verifySessionToken: authVerify && sessionVerifierFrom(authVerify),
    // Leaving the group at once hands the partitions to the other replicas without waiting for
    // the session timeout; reads keep being served until the server has drained.
    onDrain: () => projector.stop(),
    closers: [
      { name: 'auth-verify client', run: async () => authVerify?.close() },
      { name: 'redis', run: () => redis.quit() },
      { name: 'redis (apply)', run: () => applyRedis.quit() },
    ],
  };
});
