/** A central credential (the app's access_token or jsapi_ticket) as callers get it. */
export interface CentralCredential {
  readonly value: string;
  /** Epoch ms. */
  readonly expiresAt: number;
}

/**
 * What to do with the stored credential on a read:
 * - `serve`: it is fresh (more than `refreshBeforeMs` left).
 * - `serve-and-refresh`: it is in its last `refreshBeforeMs` but still valid; serve it and
 *   refresh it in the background, so no caller waits for WeChat.
 * - `refresh`: there is none, or it has expired; the caller must wait for a new one.
 */
export type CredentialUse = 'serve' | 'serve-and-refresh' | 'refresh';

/** Decides {@link CredentialUse} for `stored` at `now`. */
export function credentialUse(
  stored: CentralCredential | undefined,
  now: number,
  refreshBeforeMs: number,
): CredentialUse {
  if (stored === undefined || now >= stored.expiresAt) return 'refresh';
  return isFresh(stored, now, refreshBeforeMs) ? 'serve' : 'serve-and-refresh';
}

/** Whether `stored` has more than `refreshBeforeMs` to live at `now` (and needs no refresh). */
export function isFresh(
  stored: CentralCredential | undefined,
  now: number,
  refreshBeforeMs: number,
): boolean {
  return stored !== undefined && now < stored.expiresAt - refreshBeforeMs;
}

/**
 * Whether `stored` already replaces `rejected`, the value WeChat refused: then the caller retries
 * with it and nothing is refreshed, so a crowd reporting one dead credential causes one refresh.
 */
export function replacesRejected(stored: CentralCredential | undefined, rejected: string): boolean {
  return stored !== undefined && stored.value !== rejected;
}

/** When a credential WeChat issued at `now` with `expiresInSeconds` to live expires (epoch ms). */
export function expiresAtOf(issued: { expiresInSeconds: number }, now: number): number {
  return now + issued.expiresInSeconds * 1000;
}

/**
 * How long a replica that lost the refresh race waits before looking for the winner's credential:
 * 20 ms doubling per attempt up to 200 ms, jittered to [0.5, 1.5) of that. `random` is in [0, 1).
 */
export function refreshWaitMs(attempt: number, random: number): number {
  return Math.min(200, 20 * 2 ** attempt) * (0.5 + random);
}
