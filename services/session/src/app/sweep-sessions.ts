import type { DueEntry } from '../adapters/session-store.js';
import type { SessionDeps } from './session-deps.js';
import { settleSessionEvents } from './settle-session-events.js';

/** Expires one due session when its time has passed and emits what it owes; a lease with no session goes. */
async function sweepOne(deps: SessionDeps, { openid, sessionId }: DueEntry, at: number): Promise<void> {
  const record = await deps.store.reconcile(openid, sessionId, at);
  if (record === undefined) await deps.store.unschedule(openid, sessionId);
  else await settleSessionEvents(deps, openid, sessionId, record);
}

/**
 * One sweeper pass: claims due sessions (any replica may run it; leases keep them apart),
 * expires the overdue ones and emits whatever events are owed. Returns how many it handled. A
 * session that fails stays due and is retried once its lease runs out.
 */
export async function sweepSessions(deps: SessionDeps, limitPerShard = 100): Promise<number> {
  const at = deps.now();
  const due = await deps.store.claimDue(at, at + deps.eventLeaseMs, limitPerShard);
  for (const entry of due) {
    try {
      await sweepOne(deps, entry, at);
    } catch (err) {
      deps.logger.warn(
        { err, sessionId: entry.sessionId },
        'sweeper could not settle a session; it stays due',
      );
    }
  }
  return due.length;
}

/**
 * Runs a sweeper pass every `intervalMs` (unref'd: it never keeps the process alive); a failed
 * pass is logged and the next one tries again. Returns how to stop it.
 */
export function startSweeper(
  sessions: { sweep(): Promise<number> },
  intervalMs: number,
  logger: SessionDeps['logger'],
): { stop(): void } {
  const timer = setInterval(() => {
    sessions.sweep().catch((err: unknown) => logger.warn({ err }, 'session sweep failed'));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
