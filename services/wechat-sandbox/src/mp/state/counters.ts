/** What the sandbox has issued per app, for tests that assert "exactly one fetch". */
export interface MpCounters {
  /** `/cgi-bin/token` answers (each one is a new token). */
  accessTokensIssued: number;
  /** New stable tokens (normal-mode answers that returned the current token are not counted). */
  stableTokensIssued: number;
  /** stable_token calls with force_refresh=true that were accepted (counted against the 20 a day). */
  forceRefreshes: number;
  jsapiTicketsIssued: number;
  /** Successful jscode2session answers. */
  sessionsIssued: number;
  /** Successful getuserphonenumber answers. */
  phoneNumbersIssued: number;
  /** Successful `/sns/oauth2/access_token` answers. */
  oauthTokensIssued: number;
  /** Successful `/sns/oauth2/refresh_token` answers. */
  oauthRefreshes: number;
}

function emptyCounters(): MpCounters {
  return {
    accessTokensIssued: 0,
    stableTokensIssued: 0,
    forceRefreshes: 0,
    jsapiTicketsIssued: 0,
    sessionsIssued: 0,
    phoneNumbersIssued: 0,
    oauthTokensIssued: 0,
    oauthRefreshes: 0,
  };
}

/** Per-app {@link MpCounters}. */
export function createCounterBoard() {
  const counters = new Map<string, MpCounters>();
  return {
    count(appid: string, counter: keyof MpCounters): void {
      let c = counters.get(appid);
      if (c === undefined) counters.set(appid, (c = emptyCounters()));
      c[counter]++;
    },
    /** Every app's counters, copied. */
    snapshot: (): Record<string, MpCounters> =>
      Object.fromEntries([...counters].map(([appid, c]) => [appid, { ...c }])),
    reset(): void {
      counters.clear();
    },
  };
}

/** The board {@link createCounterBoard} returns. */
export type CounterBoard = ReturnType<typeof createCounterBoard>;
