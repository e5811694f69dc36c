import { loadConfigOrExit } from '@wxmesh/config';
import { createRedisClient, redisDependency } from '@wxmesh/redis';
import { SessionService } from '@wxmesh/contracts';
import { createEventProducer, ensureBehaviourTopics, createKafka } from '@wxmesh/events';
import { createPeerClient, definePeer, echoService, runService } from '@wxmesh/rpc';
import { AUTH_VERIFY_CACHE_METRICS, startVerifyCache } from '@wxmesh/session-tokens';
import { createWeChatApi } from '@wxmesh/wechat';
import { createCentralToken } from './adapters/central-token.js';
import { createOAuthStore } from './adapters/oauth-store.js';
import { loadSecrets } from './adapters/secrets.js';
import { createWeChatGateway } from './adapters/wechat-gateway.js';
import { authConfigSchema } from './config.js';
import { createSessionVerifier, edgeTokenVerifier, type VerifyAnswer } from './app/verify-session.js';
import { createAuthVerifyService } from './service.js';

const config = loadConfigOrExit(authConfigSchema);

await runService('auth-verify', config, async ({ logger }) => {
  const now = Date.now;
  const secrets = await loadSecrets(
    { appSecrets: config.WECHAT_APP_SECRET_FILE, encryptionKey: config.SESSION_KEY_ENCRYPTION_KEY_FILE },
    (err) => logger.error({ err }, 'secret file reload failed; keeping the previous value'),
  );
  const redisOptions = { url: config.REDIS_URL, logger, timeoutMs: config.DEPENDENCY_TIMEOUT_MS };
  const redis = createRedisClient({ ...redisOptions, name: 'auth-verify', autoPipelining: true });
  await redis.connect();
  const kafka = createKafka({ clientId: 'auth-verify', brokers: config.KAFKA_BROKERS, logger });
  if (config.EVENTS_CREATE_TOPICS) await ensureBehaviourTopics(kafka, { logger });
  const events = createEventProducer({ kafka, producer: 'auth-verify', logger });
  await events.connect();
  const wechat = createWeChatGateway(createWeChatApi({ baseUrl: config.WECHAT_API_BASE_URL }), {
    timeoutMs: config.WECHAT_TIMEOUT,
    resetMs: config.WECHAT_BREAKER_RESET,
  });
  const session = createPeerClient(
    definePeer(SessionService, ['createSession', 'getSession', 'touchSession']),
    {
      address: config.SESSION_ADDR,
      from: 'auth-verify',
      defaultDeadlineMs: config.PEER_DEADLINE_MS,
    },
  );
  // VerifySession's warm cache and its private SessionEnded feed; `VERIFY_CACHE_TTL=0` turns both off.
  const verifyCache =
    config.VERIFY_CACHE_TTL === 0
      ? undefined
      : await startVerifyCache<VerifyAnswer>({
          kafka,
          logger,
          now,
          ttlMs: config.VERIFY_CACHE_TTL,
          maxEntries: config.VERIFY_CACHE_MAX,
          feedStaleMs: config.VERIFY_CACHE_FEED_STALE,
          metricsPrefix: AUTH_VERIFY_CACHE_METRICS,
          groupPrefix: 'auth-verify.verify-cache',
        });
  const verifySession = createSessionVerifier({ session, cache: verifyCache });
  const onBackgroundError = (err: unknown) => logger.warn({ err }, 'background token refresh failed');

  const accessTokens = createCentralToken({
    redis,
    box: secrets.box,
    kind: 'access_token',
    now,
    refreshBeforeMs: config.TOKEN_REFRESH_BEFORE,
    onBackgroundError,
    fetch: async (appid, force) => {
      const answer = await wechat.post<{ access_token: string; expires_in: number }>(
        '/cgi-bin/stable_token',
        {},
        { grant_type: 'client_credential', appid, secret: secrets.appSecret(appid), force_refresh: force },
      );
      return { value: answer.access_token, expiresAt: now() + answer.expires_in * 1000 };
    },
  });
  const jsapiTickets = createCentralToken({
    redis,
    box: secrets.box,
    kind: 'jsapi_ticket',
    now,
    refreshBeforeMs: config.TOKEN_REFRESH_BEFORE,
    onBackgroundError,
    fetch: async (appid) => {
      const token = await accessTokens.get(appid);
      const answer = await wechat.get<{ ticket: string; expires_in: number }>('/cgi-bin/ticket/getticket', {
        access_token: token.value,
        type: 'jsapi',
      });
      return { value: answer.ticket, expiresAt: now() + answer.expires_in * 1000 };
    },
  });

  // Proactive refresh: configured apps' tokens are renewed before they expire even when idle.
  const proactive = setInterval(() => {
    for (const appid of secrets.appids()) {
      accessTokens.get(appid).catch(onBackgroundError);
    }
  }, 60_000);
  proactive.unref();

  return {
    services: [
      createAuthVerifyService({
        redis,
        secrets,
        wechat,
        session,
        accessTokens,
        jsapiTickets,
        oauth: createOAuthStore(redis, secrets.box, { now, reuseGraceMs: config.OAUTH_REUSE_GRACE }),
        events,
        logger,
        now,
        sessionKeyTtlMs: config.SESSION_KEY_TTL,
        oauthRefreshTtlMs: config.OAUTH_REFRESH_TTL,
        verifySession,
      }),
      echoService,
    ],
    // Bearer tokens at this service's own edge are checked in-process, against the warm cache.
    verifySessionToken: edgeTokenVerifier(verifySession),
    dependencies: [redisDependency(redis)],
    closers: [
      { name: 'timers', run: async () => clearInterval(proactive) },
      { name: 'verify-cache feed', run: async () => verifyCache?.stop() },
      { name: 'clients', run: async () => (session.close(), wechat.close(), secrets.close()) },
      { name: 'kafka', run: () => events.disconnect() },
      { name: 'redis', run: () => redis.quit() },
    ],
  };
});
