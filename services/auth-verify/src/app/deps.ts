import type { SessionService } from '@wxmesh/contracts';
import type { EventProducer } from '@wxmesh/events';
import type { Logger, PeerClient } from '@wxmesh/rpc';
import type { CentralTokens } from '../adapters/central-token.js';
import type { OAuthStore } from '../adapters/oauth-store.js';
import type { SessionKeyStore } from '../adapters/session-key-store.js';
import type { WeChatGateway } from '../adapters/wechat-gateway.js';
import type { SessionVerifier } from './verify-session.js';

/** The session RPCs auth-verify calls (declared in main.ts with `definePeer`). */
export type SessionPeer = PeerClient<typeof SessionService, 'createSession' | 'getSession' | 'touchSession'>;

/** What the use cases need; built by main.ts. */
export interface AuthDeps {
  /** The AppSecret of a configured app, undefined for any other appid. */
  readonly appSecret: (appid: string) => string | undefined;
  readonly wechat: WeChatGateway;
  readonly session: SessionPeer;
  readonly sessionKeys: SessionKeyStore;
  readonly accessTokens: CentralTokens;
  readonly jsapiTickets: CentralTokens;
  readonly oauth: OAuthStore;
  readonly events: EventProducer;
  readonly logger: Logger;
  readonly now: () => number;
  /** How long a mesh OAuth refresh chain lives. */
  readonly oauthRefreshTtlMs: number;
  /** VerifySession's logic over its warm cache; the kit's Bearer check at this edge uses the same one. */
  readonly verifySession: SessionVerifier;
}
