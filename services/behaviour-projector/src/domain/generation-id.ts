/**
 * A new read-model generation name: time-ordered, unique (`g<ms base36>-<hex>`). The clock and the
 * random source come in as parameters, so tests choose the name.
 */
export function newGenerationId(now: () => number, random: (bytes: number) => Buffer): string {
  return `g${now().toString(36)}-${random(3).toString('hex')}`;
}
