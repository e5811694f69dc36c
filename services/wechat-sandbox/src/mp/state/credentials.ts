import { MP_LIMITS, secondsLeft } from '../domain/limits.js';

/** An issued access_token or jsapi_ticket. */
export interface CredentialRecord {
  readonly appid: string;
  expiresAt: number;
  /** True once a successor cut its life short: it then fails with 40001 ("not latest"), not 42001. */
  superseded: boolean;
}

/**
 * A table of issued credentials of one kind (access tokens of both lines, or jsapi_tickets): each
 * lives {@link MP_LIMITS.tokenTtlMs}, and a replaced one at most {@link MP_LIMITS.overlapMs} more.
 * `random` makes the values; `clock` is the sandbox clock.
 */
export function createCredentialTable(clock: () => number, random: (size: number) => Buffer) {
  let records = new Map<string, CredentialRecord>();
  return {
    get: (value: string) => records.get(value),
    /** A new credential of the app, valid for the full lifetime. */
    issue(appid: string): string {
      const value = `90_${random(96).toString('base64url')}`;
      records.set(value, { appid, expiresAt: clock() + MP_LIMITS.tokenTtlMs, superseded: false });
      return value;
    },
    /** Gives a replaced credential at most {@link MP_LIMITS.overlapMs} more life. */
    supersede(value: string | undefined): void {
      const record = value === undefined ? undefined : records.get(value);
      if (record === undefined) return;
      const cap = clock() + MP_LIMITS.overlapMs;
      if (cap < record.expiresAt) {
        record.expiresAt = cap;
        record.superseded = true;
      }
    },
    /** The `expires_in` WeChat reports for an issued credential. */
    expiresIn: (value: string) => secondsLeft(records.get(value)!.expiresAt, clock()),
    /** The app's credentials still alive, oldest first. */
    liveOf(appid: string): string[] {
      const now = clock();
      return [...records].filter(([, r]) => r.appid === appid && now < r.expiresAt).map(([value]) => value);
    },
    /** Ends every live credential of the app now, as superseded (40001); returns how many. */
    revokeApp(appid: string): number {
      const now = clock();
      let revoked = 0;
      for (const record of records.values()) {
        if (record.appid !== appid || now >= record.expiresAt) continue;
        record.expiresAt = now;
        record.superseded = true;
        revoked++;
      }
      return revoked;
    },
    reset(): void {
      records = new Map();
    },
  };
}

/** A table {@link createCredentialTable} returns. */
export type CredentialTable = ReturnType<typeof createCredentialTable>;
