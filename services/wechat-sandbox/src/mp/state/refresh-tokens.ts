/** A web OAuth refresh_token: whose, with which scope, until when. */
export interface RefreshRecord {
  readonly appid: string;
  readonly openid: string;
  readonly scope: string;
  readonly expiresAt: number;
}

/** The web OAuth refresh_tokens issued (WeChat does not rotate them). */
export function createRefreshTokens() {
  let records = new Map<string, RefreshRecord>();
  return {
    get: (token: string) => records.get(token),
    set(token: string, record: RefreshRecord): void {
      records.set(token, record);
    },
    reset(): void {
      records = new Map();
    },
  };
}

/** The table {@link createRefreshTokens} returns. */
export type RefreshTokens = ReturnType<typeof createRefreshTokens>;
