import { behaviourEvent, type BehaviourEventInit } from '@wxmesh/events';
import type { AuthDeps } from './deps.js';

/**
 * Emits one behaviour event within the call's budget. Best-effort: the user's action succeeded; a
 * lost analytics event must not fail it, and is logged instead. Nothing is sent once the call's
 * deadline has passed.
 */
export async function emitBestEffort(
  deps: Pick<AuthDeps, 'events' | 'logger'>,
  event: BehaviourEventInit,
  signal: AbortSignal,
): Promise<void> {
  await deps.events
    .emitWithin(signal, behaviourEvent(event))
    .catch((err: unknown) =>
      deps.logger.warn({ err, eventId: event.eventId }, 'behaviour event not acknowledged'),
    );
}
