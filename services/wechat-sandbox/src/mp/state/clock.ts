/**
 * The sandbox clock: the injected base clock plus an offset the control API advances, so tests
 * move time forward instead of waiting. Tokens, codes and quotas all read it.
 */
export function createSandboxClock(base: () => number) {
  let offsetMs = 0;
  return {
    now: () => base() + offsetMs,
    offsetMs: () => offsetMs,
    /** Moves the clock forward by `ms`. */
    advance(ms: number): void {
      offsetMs += ms;
    },
    /** Back to the base clock (offset 0). */
    reset(): void {
      offsetMs = 0;
    },
  };
}

/** The clock {@link createSandboxClock} returns. */
export type SandboxClock = ReturnType<typeof createSandboxClock>;
