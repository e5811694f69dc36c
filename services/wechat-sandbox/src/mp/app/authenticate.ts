import { timingSafeEqual } from 'node:crypto';
import { WxError } from '../domain/errors.js';
import type { QuotaKey } from '../domain/limits.js';
import type { CodeTable } from '../state/codes.js';
import type { AppState, MpState } from '../state/index.js';

/** A well-formed access_token: what WeChat answers 40001 for when unknown, rather than 40014. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,512}$/;

/** String equality in constant time (secrets, signatures). */
export function timingSafeStringEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks appid and secret the way the credential APIs do (41002, 41004, 40013, 40125), then
 * charges the API's daily quota (45009). Returns the app's state.
 */
export function authenticateApp(
  state: MpState,
  appid: string | undefined,
  secret: string | undefined,
  api: QuotaKey,
): AppState {
  if (!appid) throw new WxError(41002);
  if (!secret) throw new WxError(41004);
  const app = state.apps.get(appid);
  if (app === undefined) throw new WxError(40013);
  if (!timingSafeStringEqual(secret, app.secret)) throw new WxError(40125);
  state.quotas.consume(appid, api);
  return app;
}

/**
 * The app an `access_token` query parameter belongs to: 41001 missing, 40014 malformed, 40001
 * unknown or replaced past its overlap, 42001 expired, as WeChat answers them; then the API's
 * daily quota is charged to that app (45009 past it).
 */
export function appOfToken(state: MpState, token: string | undefined, api: QuotaKey): string {
  if (!token) throw new WxError(41001);
  const record = state.tokens.get(token);
  if (record === undefined) throw new WxError(TOKEN_SHAPE.test(token) ? 40001 : 40014);
  if (state.clock.now() >= record.expiresAt) throw new WxError(record.superseded ? 40001 : 42001);
  state.quotas.consume(record.appid, api);
  return record.appid;
}

/** The app that was issued `token`, whatever its state now (to attribute refused calls); else undefined. */
export function tokenOwner(state: MpState, token: string | undefined): string | undefined {
  return token ? state.tokens.get(token)?.appid : undefined;
}

/** The query of an `authorization_code` grant (jscode2session, web OAuth). */
export interface CodeGrant {
  readonly appid?: string;
  readonly secret?: string;
  readonly grant_type?: string;
}

/**
 * WeChat's `authorization_code` grant, shared by the code exchanges: grant_type (40002), the app
 * ({@link authenticateApp}, charging `api`), then the app's `code` spent (40163 when reused).
 * Returns the code's fixture.
 */
export function takeGrantedCode<F>(
  state: MpState,
  grant: CodeGrant,
  code: string | undefined,
  codes: CodeTable<F>,
  api: QuotaKey,
): F {
  if (grant.grant_type !== 'authorization_code') throw new WxError(40002);
  authenticateApp(state, grant.appid, grant.secret, api);
  return codes.take(grant.appid!, code, 40163).fixture;
}
