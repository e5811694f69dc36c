import { loadConfigOrExit, redisConnection } from '@wxmesh/config';
import { SessionService } from '@wxmesh/contracts';
import { connectEventProducer, createKafka } from '@wxmesh/events';
import { createRedisClient, redisDependency, type RedisClient } from '@wxmesh/redis';
import { createPeerClient, definePeer, echoService, runService, type Logger } from '@wxmesh/rpc';
import { createWeChatApi } from '@wxmesh/wechat';
import { createOAuthStore } from './adapters/oauth-store.js';
import { loadSecrets, type Secrets } from './adapters/secrets.js';
import { createSessionKeyStore } from './adapters/session-key-store.js';
import { startAuthVerifyCache } from './adapters/verify-cache.js';
import { createWeChatCredentialSource } from './adapters/wechat-credentials.js';
import { createWeChatGateway, type WeChatGateway } from './adapters/wechat-gateway.js';
import { createCentralCredentials, startProactiveRefresh } from './app/central-credentials.js';
import { createSessionVerifier, edgeTokenVerifier } from './app/verify-session.js';
import { authConfigSchema, type AuthConfig } from './config.js';
import { createAuthVerifyService } from './service.js';

const config = loadConfigOrExit(authConfigSchema);

/** The session RPCs auth-verify calls (CreateSession is auth-verify's alone). */
function sessionPeer(config: AuthConfig) {
  return createPeerClient(definePeer(SessionService, ['createSession', 'getSession', 'touchSession']), {
    address: config.SESSION_ADDR,
    from: 'auth-verify',
    defaultDeadlineMs: config.PEER_DEADLINE_MS,
  });
}

/** The central access_token and jsapi_ticket, refreshed ahead of expiry until `stopProactiveRefresh`. */
function startCentralCredentials(
  config: AuthConfig,
  deps: { redis: RedisClient; secrets: Secrets; wechat: WeChatGateway; now: () => number; logger: Logger },
) {
  const { redis, secrets, wechat, now, logger } = deps;
  const onBackgroundError = (err: unknown) => logger.warn({ err }, 'background token refresh failed');
  const credentials = createCentralCredentials({
    redis,
    box: secrets.box,
    source: createWeChatCredentialSource({ wechat, appSecret: secrets.appSecret, now }),
    now,
    refreshBeforeMs: config.TOKEN_REFRESH_BEFORE,
    onBackgroundError,
  });
  const stopProactiveRefresh = startProactiveRefresh({
    appids: secrets.appids,
    accessTokens: credentials.accessTokens,
    intervalMs: 60_000,
    onError: onBackgroundError,
  });
  return { ...credentials, stopProactiveRefresh };
}

await runService('auth-verify', config, async ({ logger }) => {
  const now = Date.now;
  const secrets = await loadSecrets(
    { appSecrets: config.WECHAT_APP_SECRET_FILE, encryptionKey: config.SESSION_KEY_ENCRYPTION_KEY_FILE },
    (err) => logger.error({ err }, 'secret file reload failed; keeping the previous value'),
  );
  const redisOptions = {
    connection: redisConnection(config),
    logger,
    timeoutMs: config.DEPENDENCY_TIMEOUT_MS,
  };
  const redis = createRedisClient({ ...redisOptions, name: 'auth-verify', autoPipelining: true });
  await redis.connect();
  const kafka = createKafka({ clientId: 'auth-verify', config, logger });
  const events = await connectEventProducer({
    kafka,
    producer: 'auth-verify',
    logger,
    createTopics: config.EVENTS_CREATE_TOPICS,
  });
  const wechat = createWeChatGateway(createWeChatApi({ baseUrl: config.WECHAT_API_BASE_URL }), {
    timeoutMs: config.WECHAT_TIMEOUT,
    resetMs: config.WECHAT_BREAKER_RESET,
  });
  const session = sessionPeer(config);
  const verifyCache = await startAuthVerifyCache(
    { kafka, logger, now },
    {
      ttlMs: config.VERIFY_CACHE_TTL,
      maxEntries: config.VERIFY_CACHE_MAX,
      feedStaleMs: config.VERIFY_CACHE_FEED_STALE,
    },
  );
  const verifySession = createSessionVerifier({ session, cache: verifyCache });
  const { accessTokens, jsapiTickets, stopProactiveRefresh } = startCentralCredentials(config, {
    redis,
    secrets,
    wechat,
    now,
    logger,
  });

  return {
    services: [
      createAuthVerifyService({
        appSecret: secrets.appSecret,
        wechat,
        session,
        sessionKeys: createSessionKeyStore(redis, secrets.box, { ttlMs: config.SESSION_KEY_TTL }),
        accessTokens,
        jsapiTickets,
        oauth: createOAuthStore(redis, secrets.box, { now, reuseGraceMs: config.OAUTH_REUSE_GRACE }),
        events,
        logger,
        now,
        oauthRefreshTtlMs: config.OAUTH_REFRESH_TTL,
        verifySession,
      }),
      echoService,
    ],
    // Bearer tokens at this service's own edge are checked in-process, against the warm cache.
    verifySessionToken: edgeTokenVerifier(verifySession),
    dependencies: [redisDependency(redis)],
    closers: [
      { name: 'timers', run: async () => stopProactiveRefresh() },
      { name: 'verify-cache feed', run: async () => verifyCache?.stop() },
      { name: 'clients', run: async () => (session.close(), wechat.close(), secrets.close()) },
      { name: 'kafka', run: () => events.disconnect() },
      { name: 'redis', run: () => redis.quit() },
    ],
  };
});
