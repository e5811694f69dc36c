import type { ApplyCounts, ReadModelStore } from '../adapters/read-models.js';
import { project } from '../domain/projection.js';
import type { BehaviourEvent } from '@wxmesh/contracts';

/**
 * Projects a chunk of decoded events and applies it to the read models: to `generation` (a
 * rebuild's) or, by default, to the live generations. Throws the domain's PoisonEventError for an
 * event the read models cannot hold (before anything is written), or the store's error.
 */
export async function projectBatch(
  store: ReadModelStore,
  events: ReadonlyArray<{ event: BehaviourEvent }>,
  generation?: string,
): Promise<ApplyCounts> {
  const projections = events.map((e) => project(e.event));
  return store.apply(projections, generation);
}
