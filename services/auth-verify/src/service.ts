import { createHash, randomBytes } from 'node:crypto';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { AuthVerifyService, type SessionService } from '@wxmesh/contracts';
import { behaviourEvent, type EventProducer } from '@wxmesh/events';
import {
  actingFor,
  defineService,
  type Logger,
  type PeerClient,
  type RpcContext,
  type UserIdentity,
} from '@wxmesh/rpc';
import type { WeChatIdentity } from '@wxmesh/telemetry';
import {
  decryptOpenData,
  jsapiSignature,
  UserDataError,
  verifyRawDataSignature,
  WeChatApiError,
} from '@wxmesh/wechat';
import type { Redis } from 'ioredis';
import type { CentralTokens } from './adapters/central-token.js';
import type { OAuthStore } from './adapters/oauth-store.js';
import type { Secrets } from './adapters/secrets.js';
import { weChatFailure, type WeChatGateway } from './adapters/wechat-gateway.js';
import { liveSession, type SessionVerifier, type VerifyAnswer } from './app/verify-session.js';
import { assertLoginApp, assertLoginUser } from './domain/login-caller.js';

/** The session RPCs auth-verify calls (declared in main.ts with `definePeer`). */
export type SessionPeer = PeerClient<typeof SessionService, 'createSession' | 'getSession' | 'touchSession'>;

/** What the handlers need; built by main.ts. */
export interface AuthDeps {
  readonly redis: Redis;
  readonly secrets: Secrets;
  readonly wechat: WeChatGateway;
  readonly session: SessionPeer;
  readonly accessTokens: CentralTokens;
  readonly jsapiTickets: CentralTokens;
  readonly oauth: OAuthStore;
  readonly events: EventProducer;
  readonly logger: Logger;
  readonly now: () => number;
  readonly sessionKeyTtlMs: number;
  readonly oauthRefreshTtlMs: number;
  /** VerifySession's logic over its warm cache; the kit's Bearer check at this edge uses the same one. */
  readonly verifySession: SessionVerifier;
}

const sessionKeyKey = (openid: string, appid: string) => `wxm:auth:{${openid}}:session_key:${appid}`;

/**
 * The auth-verify handlers. WeChat calls go through the gateway's breaker; calls that carry the
 * central access_token retry once after a refresh when WeChat says the token is dead
 * (40001/42001/40014). The session_key never leaves this service: it is sealed at rest and used
 * only inside DecryptUserData.
 *
 * Callers (the audiences are declared in the proto and enforced by the kit): a user may verify,
 * decrypt with and bind a phone through only their own session token; behind the cloud gateway a
 * Login must be for the gateway's user and mini-program.
 */
export function createAuthVerifyService(deps: AuthDeps) {
  const { redis, secrets, wechat, session, accessTokens, jsapiTickets, oauth, events, logger, now } = deps;

  function appSecret(appid: string): string {
    const secret = secrets.appSecret(appid);
    if (secret === undefined) {
      throw new ConnectError(`appid ${appid} is not configured in this mesh`, Code.FailedPrecondition);
    }
    return secret;
  }

  /**
   * Runs `call` with the app's central access_token, once more with a fresh one when WeChat says
   * it is dead. The token itself is shared work (one refresh serves every caller and replica), so
   * its refresh is not cut by this caller's deadline; `call` is, and takes `signal` itself.
   */
  async function withAccessToken<T>(appid: string, call: (token: string) => Promise<T>): Promise<T> {
    const first = await accessTokens.get(appid);
    try {
      return await call(first.value);
    } catch (err) {
      if (!(err instanceof WeChatApiError && err.isTokenError)) throw err;
      const { token } = await accessTokens.invalidate(appid, first.value);
      return call(token.value);
    }
  }

  /**
   * Emits one behaviour event within the call's budget. Best-effort: the user's action succeeded; a
   * lost analytics event must not fail it. The id is derived from the action, so a retried request
   * re-emits the same id. Nothing is sent once the call's deadline has passed.
   */
  async function emit(event: Parameters<typeof behaviourEvent>[0], signal: AbortSignal) {
    await events
      .emitWithin(signal, behaviourEvent(event))
      .catch((err: unknown) =>
        logger.warn({ err, eventId: event.eventId }, 'behaviour event not acknowledged'),
      );
  }

  /** The live session of a token the body carries, which must be the calling user's own. */
  async function callersSession(token: string, ctx: RpcContext) {
    const s = await liveSession(session, token, false, ctx.signal);
    actingFor(ctx, s.openid, 'session_token');
    return s;
  }

  const wechatCall = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw weChatFailure(err);
    }
  };

  return defineService(AuthVerifyService, {
    async login(request, ctx) {
      assertLoginApp(ctx.caller, request.appid);
      const secret = appSecret(request.appid);
      const { signal } = ctx;
      // Aborted at the deadline: a code WeChat has not answered for yet is given up, unspent.
      const answer = await wechatCall(() =>
        wechat.get<{ openid: string; session_key: string; unionid?: string }>(
          '/sns/jscode2session',
          { appid: request.appid, secret, js_code: request.jsCode, grant_type: 'authorization_code' },
          signal,
        ),
      );
      assertLoginUser(ctx.caller, answer.openid);
      const key = sessionKeyKey(answer.openid, request.appid);
      // Past the deadline the caller has its answer already: store nothing it will never use.
      // (ioredis takes no signal, so the check comes before each write.)
      signal.throwIfAborted();
      // A new login replaces the user's session_key, as WeChat itself does.
      await redis.set(key, secrets.box.seal(answer.session_key, key), 'PX', deps.sessionKeyTtlMs);
      signal.throwIfAborted();
      const created = await session.createSession(
        {
          appid: request.appid,
          openid: answer.openid,
          unionid: answer.unionid ?? '',
          attributes: request.attributes,
        },
        { signal },
      );
      const s = created.session!;
      // The user is the one WeChat named: the caller may be anonymous (logging in makes one a user).
      await emit(
        {
          eventId: `login:${s.sessionId}`,
          aggregateId: `user:${answer.openid}`,
          occurredAt: now(),
          producer: 'auth-verify',
          wechat: {
            openid: answer.openid,
            appid: request.appid,
            ...(answer.unionid ? { unionid: answer.unionid } : {}),
          },
          payload: { case: 'userLoggedIn', value: { sessionId: s.sessionId } },
        },
        signal,
      );
      return {
        sessionToken: created.sessionToken,
        sessionId: s.sessionId,
        openid: answer.openid,
        unionid: answer.unionid ?? '',
        expiresAt: s.expiresAt,
        maxExpiresAt: s.maxExpiresAt,
      };
    },

    async verifySession(request, ctx) {
      const answer = await deps.verifySession(request.sessionToken, request.touch, ctx.signal);
      if (ctx.caller.kind === 'user') actingFor(ctx, answer.openid, 'session_token');
      return answer;
    },

    async decryptUserData(request, ctx) {
      const s = await callersSession(request.sessionToken, ctx);
      const key = sessionKeyKey(s.openid, s.appid);
      const sealed = await redis.get(key);
      const sessionKey = sealed === null ? undefined : secrets.box.open(sealed, key);
      if (sessionKey === undefined) {
        throw new ConnectError(
          'no session_key is held for this session; log in again',
          Code.FailedPrecondition,
        );
      }
      try {
        if (request.rawData !== '' || request.signature !== '') {
          verifyRawDataSignature(request.rawData, request.signature, sessionKey);
        }
        const opened = decryptOpenData(sessionKey, request.encryptedData, request.iv, s.appid);
        return { dataJson: opened.json, watermarkTime: timestampFromMs(opened.watermark.timestamp * 1000) };
      } catch (err) {
        if (!(err instanceof UserDataError)) throw err;
        const code = {
          malformed: Code.InvalidArgument,
          signature: Code.FailedPrecondition,
          decrypt: Code.FailedPrecondition,
          watermark: Code.InvalidArgument,
        }[err.reason];
        const hint =
          err.reason === 'signature'
            ? '; the session_key may have been replaced by a later wx.login: log in again'
            : '';
        throw new ConnectError(`${err.message}${hint}`, code);
      }
    },

    async getPhoneNumber(request, ctx) {
      const s = await callersSession(request.sessionToken, ctx);
      // The phone code is single-use at WeChat: it is not presented once the deadline has passed.
      const answer = await wechatCall(() =>
        withAccessToken(s.appid, (token) =>
          wechat.post<{ phone_info: { phoneNumber: string; purePhoneNumber: string; countryCode: string } }>(
            '/wxa/business/getuserphonenumber',
            { access_token: token },
            { code: request.code },
            ctx.signal,
          ),
        ),
      );
      const info = answer.phone_info;
      await emit(
        {
          eventId: `phone:${createHash('sha256').update(`${s.appid} ${request.code}`).digest('base64url').slice(0, 32)}`,
          aggregateId: `user:${s.openid}`,
          occurredAt: now(),
          producer: 'auth-verify',
          wechat: actedUnder(ctx.wechat, s),
          payload: { case: 'phoneNumberBound', value: { countryCode: info.countryCode } },
        },
        ctx.signal,
      );
      return {
        phoneNumber: info.phoneNumber,
        purePhoneNumber: info.purePhoneNumber,
        countryCode: info.countryCode,
      };
    },

    async exchangeOAuthCode(request, ctx) {
      const { signal } = ctx;
      const secret = appSecret(request.appid);
      const answer = await wechatCall(() =>
        wechat.get<{
          access_token: string;
          expires_in: number;
          refresh_token: string;
          openid: string;
          scope: string;
          is_snapshotuser?: number;
          unionid?: string;
        }>(
          '/sns/oauth2/access_token',
          { appid: request.appid, secret, code: request.code, grant_type: 'authorization_code' },
          signal,
        ),
      );
      const at = now();
      const chain = {
        appid: request.appid,
        openid: answer.openid,
        unionid: answer.unionid ?? '',
        scopes: answer.scope
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        snapshotUser: answer.is_snapshotuser === 1,
        accessToken: answer.access_token,
        accessExpiresAt: at + answer.expires_in * 1000,
        wechatRefreshToken: answer.refresh_token,
        refreshExpiresAt: at + deps.oauthRefreshTtlMs,
      };
      signal.throwIfAborted();
      const refreshToken = await oauth.create(chain);
      await emit(
        {
          eventId: `oauth:${refreshToken.split('.')[0]}`,
          aggregateId: `user:${answer.openid}`,
          occurredAt: at,
          producer: 'auth-verify',
          wechat: {
            openid: answer.openid,
            appid: request.appid,
            ...(answer.unionid ? { unionid: answer.unionid } : {}),
          },
          payload: {
            case: 'oauthAuthorized',
            value: { scopes: chain.scopes, snapshotUser: chain.snapshotUser },
          },
        },
        signal,
      );
      return { grant: grantOf(chain, refreshToken) };
    },

    async refreshOAuthToken(request, ctx) {
      const { signal } = ctx;
      // Rotation spends the presented refresh token: never after the caller stopped waiting.
      signal.throwIfAborted();
      const result = await oauth.rotate(request.appid, request.refreshToken);
      switch (result.kind) {
        case 'unknown':
          throw new ConnectError(
            'refresh token is unknown or expired; authorise again',
            Code.Unauthenticated,
          );
        case 'revoked':
          throw new ConnectError(
            'this grant was revoked after a refresh token was reused; authorise again',
            Code.Unauthenticated,
          );
        case 'reused':
          throw new ConnectError(
            'refresh token was already used: the grant is now revoked as a precaution; authorise again',
            Code.Unauthenticated,
          );
        case 'concurrent':
          throw new ConnectError(
            'refresh token was just rotated by a concurrent request; use that result',
            Code.Aborted,
          );
      }
      const answer = await wechatCall(() =>
        wechat.get<{ access_token: string; expires_in: number }>(
          '/sns/oauth2/refresh_token',
          {
            appid: request.appid,
            grant_type: 'refresh_token',
            refresh_token: result.chain.wechatRefreshToken,
          },
          signal,
        ),
      );
      const accessExpiresAt = now() + answer.expires_in * 1000;
      signal.throwIfAborted();
      await oauth.updateAccess(result.refreshToken, answer.access_token, accessExpiresAt);
      return {
        grant: grantOf(
          { ...result.chain, accessToken: answer.access_token, accessExpiresAt },
          result.refreshToken,
        ),
      };
    },

    async signJsapi(request) {
      appSecret(request.appid);
      const ticket = await wechatCall(() => jsapiTickets.get(request.appid));
      const timestamp = Math.floor(now() / 1000);
      const nonceStr = randomBytes(12).toString('base64url');
      const { signature, signedUrl } = jsapiSignature({
        ticket: ticket.value,
        nonceStr,
        timestamp,
        url: request.url,
      });
      return { appid: request.appid, timestamp: BigInt(timestamp), nonceStr, signature, signedUrl };
    },

    async getAccessToken(request) {
      appSecret(request.appid);
      const token = await wechatCall(() => accessTokens.get(request.appid));
      return { accessToken: token.value, expiresAt: timestampFromMs(token.expiresAt) };
    },

    async invalidateAccessToken(request, ctx) {
      appSecret(request.appid);
      // A forced refresh retires the token for every replica: only for a caller still waiting.
      ctx.signal.throwIfAborted();
      const { token, refreshed } = await wechatCall(() =>
        accessTokens.invalidate(request.appid, request.accessToken),
      );
      return { refreshed, accessToken: token.value, expiresAt: timestampFromMs(token.expiresAt) };
    },
  });
}

/**
 * The calling user's identity for an event (as the gateway or the session token gave it; its
 * openid is the session's, `actingFor` made sure), completed with the app and unionid of the
 * session the action was done under: the gateway may leave those out, and the session's app is the
 * one whose code was redeemed.
 */
function actedUnder(caller: WeChatIdentity, s: VerifyAnswer): UserIdentity {
  return {
    ...caller,
    openid: s.openid,
    appid: s.appid,
    unionid: caller.unionid ?? (s.unionid || undefined),
  };
}

function grantOf(
  chain: {
    openid: string;
    unionid: string;
    scopes: string[];
    snapshotUser: boolean;
    accessToken: string;
    accessExpiresAt: number;
    refreshExpiresAt: number;
  },
  refreshToken: string,
) {
  return {
    openid: chain.openid,
    unionid: chain.unionid,
    scopes: chain.scopes,
    accessToken: chain.accessToken,
    accessTokenExpiresAt: timestampFromMs(chain.accessExpiresAt),
    refreshToken,
    refreshTokenExpiresAt: timestampFromMs(chain.refreshExpiresAt),
    snapshotUser: chain.snapshotUser,
  };
}
