import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '@wxmesh/redis';
import {
  credentialUse,
  isFresh,
  refreshWaitMs,
  replacesRejected,
  type CentralCredential,
} from '../domain/central-credential.js';
import { createCentralTokenCodec, type CentralTokenCodec } from './central-token-codec.js';
import type { SealBox } from './secrets.js';

/** Options of {@link createCentralToken}. */
export interface CentralTokenOptions {
  readonly redis: RedisClient;
  readonly box: SealBox;
  /** `access_token` or `jsapi_ticket`: part of the key. */
  readonly kind: string;
  /** Gets a fresh credential from WeChat; `force` asks WeChat for a new one even if its current one lives. */
  readonly fetch: (appid: string, force: boolean) => Promise<CentralCredential>;
  readonly now: () => number;
  /** Refresh this long before expiry. */
  readonly refreshBeforeMs: number;
  /** How long a refresher may hold the lock (longer than a WeChat call's budget). */
  readonly lockTtlMs?: number;
  /** How long a caller waits for another replica's refresh before giving up. */
  readonly waitMs?: number;
  readonly onBackgroundError?: (err: unknown) => void;
  /** The jitter of the wait for another replica's refresh, in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
}

/** A refresh's result: the credential, and whether this call fetched it from WeChat. */
export interface RefreshOutcome {
  readonly token: CentralCredential;
  readonly refreshed: boolean;
}

/** Whether the stored credential makes a refresh unnecessary. */
type Satisfied = (stored: CentralCredential | undefined) => boolean;

/** What one credential kind's refreshes share. */
interface Refresher {
  readonly codec: CentralTokenCodec;
  readonly options: CentralTokenOptions;
  readonly lockTtlMs: number;
  readonly waitMs: number;
  /** Apps whose background refresh is running in this process. */
  readonly background: Set<string>;
}

/**
 * One credential per app shared by every replica through Redis (the WeChat rule: each new token
 * invalidates the previous one after 5 minutes, so replicas must not fetch their own).
 *
 * Exactly one replica refreshes at a time: a Redis lock with a fencing number; the write is a Lua
 * script that refuses a fence older than the stored one. Callers that lose the race wait for the
 * winner's token instead of fetching. A token within `refreshBeforeMs` of expiry is still served
 * while one refresh runs in the background. `invalidate(seen)` refreshes only if the stored token
 * is still the one the caller saw fail, so a crowd reporting one dead token causes one refresh.
 */
export function createCentralToken(options: CentralTokenOptions) {
  const refresher: Refresher = {
    codec: createCentralTokenCodec(options.redis, options.box, options.kind),
    options,
    lockTtlMs: options.lockTtlMs ?? 10_000,
    waitMs: options.waitMs ?? 8_000,
    background: new Set(),
  };
  return {
    /** The app's current credential, fetching it when there is none or it has expired. */
    get: (appid: string) => currentCredential(refresher, appid),
    /**
     * Reports `seen` as rejected by WeChat. Refreshes (forcing a new token) only when the stored
     * token is still `seen`; otherwise returns the newer one.
     */
    invalidate: (appid: string, seen: string) => replaceRejected(refresher, appid, seen),
  };
}

export type CentralTokens = ReturnType<typeof createCentralToken>;

async function currentCredential(refresher: Refresher, appid: string): Promise<CentralCredential> {
  const { now, refreshBeforeMs } = refresher.options;
  const stored = await refresher.codec.read(appid);
  const fresh: Satisfied = (current) => isFresh(current, now(), refreshBeforeMs);
  switch (credentialUse(stored, now(), refreshBeforeMs)) {
    case 'serve':
      return stored!;
    case 'serve-and-refresh':
      refreshInBackground(refresher, appid, fresh);
      return stored!;
    case 'refresh':
      return (await refresh(refresher, appid, false, fresh)).token;
  }
}

async function replaceRejected(refresher: Refresher, appid: string, seen: string): Promise<RefreshOutcome> {
  const stored = await refresher.codec.read(appid);
  if (replacesRejected(stored, seen)) return { token: stored!, refreshed: false };
  return refresh(refresher, appid, true, (current) => replacesRejected(current, seen));
}

/** Starts one background refresh per app and process; its failure goes to `onBackgroundError`. */
function refreshInBackground(refresher: Refresher, appid: string, satisfied: Satisfied): void {
  if (refresher.background.has(appid)) return;
  refresher.background.add(appid);
  refresh(refresher, appid, false, satisfied)
    .catch((err: unknown) => refresher.options.onBackgroundError?.(err))
    .finally(() => refresher.background.delete(appid));
}

/**
 * Refreshes unless `satisfied` says the stored token is already good: under the lock when this
 * replica gets it, else by waiting (up to `waitMs`) for the replica that holds it.
 */
async function refresh(
  refresher: Refresher,
  appid: string,
  force: boolean,
  satisfied: Satisfied,
): Promise<RefreshOutcome> {
  const owner = randomBytes(12).toString('base64url');
  const deadline = Date.now() + refresher.waitMs;
  for (let attempt = 0; ; attempt++) {
    const fence = await refresher.codec.acquire(appid, owner, refresher.lockTtlMs);
    if (fence > 0) return refreshUnderLock(refresher, appid, { force, satisfied, fence, owner });
    await sleep(refreshWaitMs(attempt, (refresher.options.random ?? Math.random)()));
    const stored = await refresher.codec.read(appid);
    if (satisfied(stored)) return { token: stored!, refreshed: false };
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for another replica to refresh the ${refresher.options.kind}`);
    }
  }
}

/** The lock holder's refresh: fetch from WeChat unless the stored token is already good, store, release. */
async function refreshUnderLock(
  refresher: Refresher,
  appid: string,
  lock: { force: boolean; satisfied: Satisfied; fence: number; owner: string },
): Promise<RefreshOutcome> {
  const { codec, options } = refresher;
  try {
    const stored = await codec.read(appid);
    if (lock.satisfied(stored)) return { token: stored!, refreshed: false };
    const token = await options.fetch(appid, lock.force);
    await codec.store(appid, token, lock.fence, Math.max(1, token.expiresAt - options.now()), lock.owner);
    return { token, refreshed: true };
  } finally {
    await codec.release(appid, lock.owner);
  }
}
