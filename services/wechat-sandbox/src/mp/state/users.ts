import { compositeKey } from './key.js';

/**
 * The users each app knows (from js_code and subscription fixtures) and each user's current
 * session_key (set by the last jscode2session).
 */
export function createUserDirectory() {
  let users = new Set<string>();
  let sessionKeys = new Map<string, string>();
  return {
    /** Makes `openid` a user of the app (APIs addressing a user refuse unknown ones). */
    register(appid: string, openid: string): void {
      users.add(compositeKey(appid, openid));
    },
    knows: (appid: string, openid: string) => users.has(compositeKey(appid, openid)),
    /** The user's current session_key; a later login replaces it. */
    setSessionKey(appid: string, openid: string, sessionKey: string): void {
      sessionKeys.set(compositeKey(appid, openid), sessionKey);
    },
    sessionKey: (appid: string, openid: string) => sessionKeys.get(compositeKey(appid, openid)),
    reset(): void {
      users = new Set();
      sessionKeys = new Map();
    },
  };
}

/** The directory {@link createUserDirectory} returns. */
export type UserDirectory = ReturnType<typeof createUserDirectory>;
