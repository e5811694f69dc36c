import type { Logger } from './logger.js';

/** One step of a shutdown; `timeoutMs` bounds it (default 5 s), so a hung closer cannot hold the rest. */
export interface ShutdownStep {
  readonly name: string;
  readonly run: () => Promise<unknown>;
  readonly timeoutMs?: number;
}

const STEP_TIMEOUT_MS = 5_000;

/** Runs one step within its own timeout; resolves true when it finished without failing. */
async function runStep(step: ShutdownStep, logger: Logger): Promise<boolean> {
  const timeoutMs = step.timeoutMs ?? STEP_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)),
  );
  try {
    const outcome = await Promise.race([step.run(), timedOut]);
    if (outcome !== 'timeout') return true;
    logger.error({ step: step.name, timeoutMs }, 'shutdown step did not finish in time; going on');
  } catch (err) {
    logger.error({ err, step: step.name }, 'shutdown step failed');
  } finally {
    clearTimeout(timer);
  }
  return false;
}

/**
 * Runs the shutdown steps in order on the first SIGTERM or SIGINT and exits 0 when they are
 * done (1 if one fails or runs past its own timeout, or `timeoutMs` passes for the whole). A
 * second signal during the drain exits 1 at once, the usual contract for an impatient Ctrl-C.
 *
 * Steps are ordered by the composition root: usually the server first (stop taking work, let
 * in-flight calls finish), then the clients and stores it used, then telemetry (flush spans).
 */
export function installShutdown(options: {
  logger: Logger;
  steps: readonly ShutdownStep[];
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
    const deadline = setTimeout(
      () => {
        logger.error('shutdown did not finish in time');
        exit(1);
      },
      options.timeoutMs ?? steps.reduce((sum, step) => sum + (step.timeoutMs ?? STEP_TIMEOUT_MS), 1_000),
    );
    deadline.unref();
    let code = 0;
    for (const step of steps) if (!(await runStep(step, logger))) code = 1;
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
