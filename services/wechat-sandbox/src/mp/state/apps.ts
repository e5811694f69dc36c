import type { MpApp } from '../domain/fixtures.js';

/** What the sandbox keeps per app: its secret and the credentials it currently holds. */
export interface AppState {
  secret: string;
  /** The current `/cgi-bin/token` token. */
  token?: string;
  /** The current `/cgi-bin/stable_token` token (a line of its own). */
  stable?: string;
  /** The current jsapi_ticket. */
  ticket?: string;
  /** When stable_token last renewed under force_refresh (the 30 s spacing). */
  lastForceRefreshAt?: number;
}

/** The registered apps; a reset leaves only the `configured` ones, with no credentials. */
export function createAppRegistry(configured: readonly MpApp[]) {
  let apps = new Map<string, AppState>();
  const reset = () => {
    apps = new Map(configured.map((a) => [a.appid, { secret: a.secret }]));
  };
  reset();
  return {
    get: (appid: string) => apps.get(appid),
    has: (appid: string) => apps.has(appid),
    /** Registers the app, or changes the secret of a registered one (its credentials stay). */
    register(app: MpApp): void {
      const existing = apps.get(app.appid);
      if (existing) existing.secret = app.secret;
      else apps.set(app.appid, { secret: app.secret });
    },
    reset,
  };
}

/** The registry {@link createAppRegistry} returns. */
export type AppRegistry = ReturnType<typeof createAppRegistry>;
