/**
 * The projector's Redis keyspace (`wxm:projector:` by default). Read models live under a
 * generation (`<prefix><generation>:...`, see {@link generation}) so a rebuild can fill a new one
 * beside the live one and swap it in by changing one pointer. Per-user keys carry the openid as a
 * hash tag, so the one script applying an event touches keys of one Redis Cluster slot; a funnel
 * day's four step sets share the `{appid:day}` tag, so reading a day is one slot.
 *
 * A read model's key is `generation(gen)` followed by its key within the generation
 * (`journeyIn`, `funnelIn`): the batch apply script joins the two itself, so that it can pick the
 * generations when it runs.
 */
export function createKeys(prefix: string) {
  const generation = (gen: string) => `${prefix}${gen}:`;
  const journeyIn = (openid: string) => `{${openid}}:journey`;
  const funnelIn = (appid: string, day: string, step: string) => `funnel:{${appid}:${day}}:${step}`;
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
    generation,
    /** HASH: one user's journey and the event_ids applied to it (see the apply script for fields). */
    journey: (gen: string, openid: string) => generation(gen) + journeyIn(openid),
    /** SET of openids that reached `step` in app `appid` on `day` (UTC+8). */
    funnel: (gen: string, appid: string, day: string, step: string) =>
      generation(gen) + funnelIn(appid, day, step),
    journeyIn,
    funnelIn,
  };
}

export type Keys = ReturnType<typeof createKeys>;
