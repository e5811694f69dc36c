/** A map key of several parts (appid, openid, ...), unambiguous whatever the parts hold. */
export function compositeKey(...parts: string[]): string {
  return parts.join('\0');
}
