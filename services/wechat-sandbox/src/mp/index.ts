import type { Endpoint } from '../http.js';

/** The WeChat Official Accounts / Mini Program API side of the sandbox (filled in by the auth-verify work). */
export function createMiniProgramApi(_deps: { now: () => number }): { endpoints: Endpoint[] } {
  return { endpoints: [] };
}
