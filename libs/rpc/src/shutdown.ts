import type { Logger } from './logger.js';

/**
 * Runs the shutdown steps in order on the first SIGTERM or SIGINT and exits 0 when they are
 * done (1 if one fails or `timeoutMs` passes). A second signal during the drain exits 1 at
 * once, the usual contract for an impatient Ctrl-C.
 *
 * Steps are ordered by the composition root: usually the server first (stop taking work, let
 * in-flight calls finish), then the clients and stores it used, then telemetry (flush spans).
 */
export function installShutdown(options: {
  logger: Logger;
  steps: ReadonlyArray<{ name: string; run: () => Promise<unknown> }>;
  timeoutMs?: number;
  exit?: (code: number) => void;
}): () => Promise<void> {
  const { logger, steps } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let started = false;
  const run = async (signal: string) => {
    if (started) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      exit(1);
      return;
    }
    started = true;
    logger.info({ signal }, 'shutdown requested');
    const deadline = setTimeout(() => {
      logger.error('shutdown did not finish in time');
      exit(1);
    }, options.timeoutMs ?? 30_000);
    deadline.unref();
    let code = 0;
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        code = 1;
        logger.error({ err, step: step.name }, 'shutdown step failed');
      }
    }
    clearTimeout(deadline);
    logger.flush();
    exit(code);
  };
  const onSigterm = () => void run('SIGTERM');
  const onSigint = () => void run('SIGINT');
  process.on('SIGTERM', onSigterm);
  process.on('SIGINT', onSigint);
  return () => run('manual');
}
