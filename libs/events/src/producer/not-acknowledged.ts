/** Thrown when the cluster did not acknowledge an `emit`; `cause` is the kafkajs error. */
export class EventsNotAcknowledgedError extends Error {
  override readonly name = 'EventsNotAcknowledgedError';
  constructor(
    readonly topic: string,
    readonly eventIds: readonly string[],
    options: { cause: unknown },
  ) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`${eventIds.length} event(s) not acknowledged by ${topic}: ${why}`, options);
  }
}
