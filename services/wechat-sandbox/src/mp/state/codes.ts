import { WxError, type Errcode } from '../domain/errors.js';
import { MP_LIMITS } from '../domain/limits.js';
import { compositeKey } from './key.js';

/** A registered code: its fixture, when it was handed out, whether it was spent. */
export interface CodeEntry<F> {
  readonly fixture: F;
  readonly registeredAt: number;
  used: boolean;
}

/**
 * Single-use codes of one kind (wx.login, phone or OAuth codes) per app, each expiring
 * {@link MP_LIMITS.codeTtlMs} after registration.
 */
export function createCodeTable<F>(clock: () => number) {
  let entries = new Map<string, CodeEntry<F>>();
  return {
    register(appid: string, code: string, fixture: F): void {
      entries.set(compositeKey(appid, code), { fixture, registeredAt: clock(), used: false });
    },
    /**
     * Spends the app's code: 41008 when missing, 40029 when unknown or expired, `reused` when
     * already spent (WeChat answers 40163 for login and OAuth codes, 40029 for phone codes).
     */
    take(appid: string, code: string | undefined, reused: Errcode): CodeEntry<F> {
      if (!code) throw new WxError(41008);
      const entry = entries.get(compositeKey(appid, code));
      if (entry === undefined) throw new WxError(40029);
      if (entry.used) throw new WxError(reused);
      if (clock() >= entry.registeredAt + MP_LIMITS.codeTtlMs) throw new WxError(40029);
      entry.used = true;
      return entry;
    },
    reset(): void {
      entries = new Map();
    },
  };
}

/** A table {@link createCodeTable} returns. */
export type CodeTable<F> = ReturnType<typeof createCodeTable<F>>;
