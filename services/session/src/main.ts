import { randomBytes } from 'node:crypto';
import { loadConfigOrExit, redisConnection } from '@wxmesh/config';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { connectEventProducer, createKafka } from '@wxmesh/events';
import { echoService, runService, type Logger } from '@wxmesh/rpc';
import { createEventSink } from './adapters/event-sink.js';
import { createPresenceStore } from './adapters/presence-store.js';
import { createRelay } from './adapters/relay.js';
import { createSessionStore } from './adapters/session-store.js';
import { LiveHub } from './adapters/live-hub.js';
import { createReplica } from './app/replica.js';
import { createSessions } from './app/sessions.js';
import { startSweeper } from './app/sweep-sessions.js';
import { createSessionTokenVerifier } from './app/verify-session-token.js';
import { defaultReplicaId, sessionConfigSchema } from './config.js';
import { createSessionService } from './service.js';

const config = loadConfigOrExit(sessionConfigSchema);

/** The command connection, and one for pub/sub (a subscribed connection runs no other commands). */
async function openRedis(logger: Logger) {
  const options = { connection: redisConnection(config), logger, timeoutMs: config.DEPENDENCY_TIMEOUT_MS };
  const redis = createRedisClient({ ...options, name: 'session', autoPipelining: true });
  const subscriber = createRedisClient({ ...options, name: 'session-subscriber' });
  await Promise.all([redis.connect(), subscriber.connect()]);
  return { redis, subscriber };
}

await runService('session', config, async ({ logger }) => {
  const now = Date.now;
  const replicaId = config.REPLICA_ID ?? defaultReplicaId();
  const { redis, subscriber } = await openRedis(logger);

  const kafka = createKafka({ clientId: `session-${replicaId}`, config, logger });
  const producer = await connectEventProducer({
    kafka,
    producer: 'session',
    logger,
    createTopics: config.EVENTS_CREATE_TOPICS,
  });
  const events = createEventSink(producer, logger);

  // The relay hands other replicas' requests to this replica's channels, and the replica sends
  // through the relay: the handlers below run only once both exist.
  const relay = createRelay({
    publisher: redis,
    subscriber,
    replicaId,
    handlers: {
      deliver: (...args) => replica.deliverHere(...args),
      sessionEnded: (...args) => replica.endSessionHere(...args),
    },
    onError: (err) => logger.warn({ err }, 'relay message failed'),
  });
  const replica = createReplica({
    replicaId,
    presence: createPresenceStore(redis, { ttlMs: config.PRESENCE_TTL, retentionMs: config.SESSION_MAX_AGE }),
    relay,
    events,
    hub: new LiveHub(),
    now,
    logger,
    heartbeatIntervalMs: config.PRESENCE_HEARTBEAT_INTERVAL,
    channelBuffer: config.CHANNEL_BUFFER,
    keepaliveMs: config.CHANNEL_KEEPALIVE,
    deliverTimeoutMs: config.DELIVER_TIMEOUT,
  });
  await relay.start();
  await replica.start();

  const sessions = createSessions({
    store: createSessionStore(redis, { retentionMs: config.SESSION_RETENTION }),
    events,
    policy: {
      idleTtlMs: config.SESSION_IDLE_TTL,
      maxAgeMs: config.SESSION_MAX_AGE,
      maxPerUser: config.SESSION_MAX_PER_USER,
      attributesMaxBytes: config.SESSION_ATTRIBUTES_MAX_BYTES,
    },
    now,
    random: randomBytes,
    eventLeaseMs: 30_000,
    onSessionEnded: replica.endSessionChannels,
    logger,
  });
  const sweeper = startSweeper(sessions, config.SWEEP_INTERVAL, logger);

  logger.info({ replica: replicaId }, 'session replica ready');
  return {
    services: [createSessionService({ sessions, replica, now }), echoService],
    verifySessionToken: createSessionTokenVerifier(sessions),
    onDrain: () => replica.withdraw(),
    dependencies: [redisDependency(redis)],
    closers: [
      { name: 'sweeper', run: async () => sweeper.stop() },
      { name: 'relay', run: () => relay.close() },
      { name: 'kafka', run: () => producer.disconnect() },
      { name: 'redis', run: () => redis.quit() },
    ],
  };
});
