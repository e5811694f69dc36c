import type { JsCodeFixture, MpApp, OAuthCodeFixture, PhoneCodeFixture } from '../domain/fixtures.js';
import { createAppRegistry } from './apps.js';
import { createSandboxClock } from './clock.js';
import { createCodeTable } from './codes.js';
import { createCounterBoard } from './counters.js';
import { createCredentialTable } from './credentials.js';
import { createDailyQuotas } from './quotas.js';
import { createRefreshTokens } from './refresh-tokens.js';
import { createUserDirectory } from './users.js';

export type { AppState } from './apps.js';
export type { MpCounters } from './counters.js';

/**
 * The mini-program side's state, one part per concern, each reset on its own: the clock, apps,
 * issued credentials (access tokens of both lines, jsapi_tickets), single-use codes, users and
 * their session keys, OAuth refresh tokens, daily quotas and counters. `random` makes every
 * secret value.
 */
export function createMpState(deps: {
  now: () => number;
  random: (size: number) => Buffer;
  apps: readonly MpApp[];
}) {
  const clock = createSandboxClock(deps.now);
  const parts = {
    clock,
    apps: createAppRegistry(deps.apps),
    tokens: createCredentialTable(clock.now, deps.random),
    tickets: createCredentialTable(clock.now, deps.random),
    jsCodes: createCodeTable<JsCodeFixture>(clock.now),
    phoneCodes: createCodeTable<PhoneCodeFixture>(clock.now),
    oauthCodes: createCodeTable<OAuthCodeFixture>(clock.now),
    users: createUserDirectory(),
    refreshTokens: createRefreshTokens(),
    quotas: createDailyQuotas(clock.now),
    counters: createCounterBoard(),
  };
  return {
    ...parts,
    random: deps.random,
    /** Back to the start: configured apps only, no fixtures, tokens, quotas or counters, offset 0. */
    reset(): void {
      for (const part of Object.values(parts)) part.reset();
    },
  };
}

/** The state {@link createMpState} returns; the use cases in `mp/app/` take it explicitly. */
export type MpState = ReturnType<typeof createMpState>;
