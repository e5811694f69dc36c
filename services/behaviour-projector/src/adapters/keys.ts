/**
 * The projector's Redis keyspace (`wxm:projector:` by default). Read models live under a
 * generation (`<prefix><generation>:...`) so a rebuild can fill a new one beside the live one and
 * swap it in by changing one pointer. Per-user keys carry the openid as a hash tag, so the one
 * script applying an event touches keys of one Redis Cluster slot; a funnel day's four step sets
 * share the `{appid:day}` tag, so reading a day is one slot.
 */
export function createKeys(prefix: string) {
  return {
    prefix,
    /**
     * HASH `active` → the generation served and written; `shadow` → one being rebuilt (also
     * written); `layout:<generation>` → the journey layout that generation was built with.
     */
    generations: `${prefix}generations`,
    /** The field of {@link generations} holding a generation's journey layout. */
    layoutField: (gen: string) => `layout:${gen}`,
    /** Everything of one generation starts with this (used to drop it). */
    generation: (gen: string) => `${prefix}${gen}:`,
    /** HASH: one user's journey and the event_ids applied to it (see the apply script for fields). */
    journey: (gen: string, openid: string) => `${prefix}${gen}:{${openid}}:journey`,
    /** SET of openids that reached `step` in app `appid` on `day` (UTC+8). */
    funnel: (gen: string, appid: string, day: string, step: string) =>
      `${prefix}${gen}:funnel:{${appid}:${day}}:${step}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
