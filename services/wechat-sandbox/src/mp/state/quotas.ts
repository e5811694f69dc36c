import { WxError } from '../domain/errors.js';
import { MP_LIMITS, quotaDay, type QuotaKey } from '../domain/limits.js';
import { compositeKey } from './key.js';

/** Per-app, per-API daily quotas on the sandbox clock, the day starting at CST midnight. */
export function createDailyQuotas(clock: () => number) {
  let limits = new Map<string, number>();
  let usage = new Map<string, { day: number; used: number }>();
  const defaultLimit = (api: QuotaKey) =>
    api === 'force_refresh' ? MP_LIMITS.forceRefreshDaily : MP_LIMITS.defaultDailyQuota;
  return {
    /** Sets an app's daily quota for one API; `undefined` restores the default. */
    set(appid: string, api: QuotaKey, daily: number | undefined): void {
      if (daily === undefined) limits.delete(compositeKey(appid, api));
      else limits.set(compositeKey(appid, api), daily);
    },
    /** Charges one call to the app's API; 45009 when today's quota is used up. */
    consume(appid: string, api: QuotaKey): void {
      const k = compositeKey(appid, api);
      const limit = limits.get(k) ?? defaultLimit(api);
      const today = quotaDay(clock());
      let entry = usage.get(k);
      if (entry === undefined || entry.day !== today) usage.set(k, (entry = { day: today, used: 0 }));
      if (entry.used >= limit) throw new WxError(45009);
      entry.used++;
    },
    reset(): void {
      limits = new Map();
      usage = new Map();
    },
  };
}

/** The quotas {@link createDailyQuotas} returns. */
export type DailyQuotas = ReturnType<typeof createDailyQuotas>;
