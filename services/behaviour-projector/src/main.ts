import { Redis } from 'ioredis';
import { loadConfigOrExit } from '@wxmesh/config';
import { ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { echoService, runService } from '@wxmesh/rpc';
import { createReadModelStore } from './adapters/read-models.js';
import { projectorConfigSchema } from './config.js';
import { createProjector, newGenerationId } from './projector.js';
import { createBehaviourViewService } from './service.js';

const config = loadConfigOrExit(projectorConfigSchema);

await runService('behaviour-projector', config, async ({ logger }) => {
  const redis = new Redis(config.REDIS_URL, { enableAutoPipelining: true, lazyConnect: true });
  await redis.connect();
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
  const store = createReadModelStore(redis, { prefix: config.KEY_PREFIX, newGeneration: newGenerationId });
  const projector = createProjector({
    kafka,
    store,
    config,
    groupId: config.CONSUMER_GROUP,
    logger,
  });
  await projector.start();

  return {
    services: [createBehaviourViewService({ store }), echoService],
    // Leaving the group at once hands the partitions to the other replicas without waiting for
    // the session timeout; reads keep being served until the server has drained.
    onDrain: () => projector.stop(),
    closers: [{ name: 'redis', run: () => redis.quit() }],
  };
});
