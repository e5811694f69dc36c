import { availableParallelism, loadavg } from 'node:os';

/** The environment variable that fixes the factor {@link timeoutScale} returns. */
export const TIMEOUT_SCALE_ENV = 'WXMESH_TIMEOUT_SCALE';

/** The most a busy machine stretches a deadline by (before the CI headroom). */
const MAX_LOAD_FACTOR = 4;
/** CI runners share their cores with jobs we cannot see, and a flaky red run costs more than a slow one. */
const CI_HEADROOM = 1.5;

/** How busy the machine is: its 1- and 5-minute load averages and the CPUs this process may use. */
export interface MachineLoad {
  readonly load1: number;
  readonly load5: number;
  readonly cpus: number;
}

/** Options of {@link timeoutScale} and the helpers built on it; the defaults read this machine. */
export interface TimeoutScaleOptions {
  /** Where `WXMESH_TIMEOUT_SCALE` and `CI` are read (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Reads the load (default `os.loadavg()` and `os.availableParallelism()`). */
  readonly load?: () => MachineLoad;
}

function machineLoad(): MachineLoad {
  const [load1 = 0, load5 = 0] = loadavg();
  return { load1, load5, cpus: availableParallelism() };
}

function isCi(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI?.trim().toLowerCase();
  return ci === 'true' || ci === '1';
}

/**
 * The factor start-up and wait deadlines are stretched by on this machine right now, so a limit
 * that is generous on an idle laptop still holds on a busy 2-core CI runner (start-ups there took
 * 3–4× longer and failed at fixed limits).
 *
 * - By default: `1 + load per CPU`, where load is the larger of the 1- and 5-minute load averages
 *   (`os.loadavg()`) and CPUs are `os.availableParallelism()`; clamped to 1…4. An idle machine
 *   gets ~1, two CPU burners on two cores ~2, a machine running twice its cores' worth ~3.
 * - `CI=true` (or `1`) multiplies that by 1.5: shared runners have neighbours the load average
 *   only partly shows.
 * - `WXMESH_TIMEOUT_SCALE=<positive number>` replaces all of it (e.g. `3` on a known-slow box,
 *   `1` to see the unscaled limits); any other value throws, naming the variable.
 *
 * The load average lags (a minute to settle), so long waits should re-read it when they run out:
 * {@link scaledDeadline} does.
 */
export function timeoutScale(options: TimeoutScaleOptions = {}): number {
  const env = options.env ?? process.env;
  const fixed = env[TIMEOUT_SCALE_ENV]?.trim();
  if (fixed) {
    const factor = Number(fixed);
    if (!Number.isFinite(factor) || factor <= 0) {
      throw new Error(`${TIMEOUT_SCALE_ENV}: expected a positive number such as 1, 2.5 or 4, got "${fixed}"`);
    }
    return factor;
  }
  const { load1, load5, cpus } = (options.load ?? machineLoad)();
  const perCpu = Math.max(load1, load5, 0) / Math.max(1, cpus);
  const factor = Math.min(MAX_LOAD_FACTOR, 1 + perCpu);
  return isCi(env) ? factor * CI_HEADROOM : factor;
}

/**
 * `baseMs` (a limit that is generous on an idle machine) × {@link timeoutScale}, in whole ms. For
 * start-up limits and waits whose length is not what a test asserts; a test that checks how fast
 * something happens keeps its fixed limit.
 */
export function scaledTimeout(baseMs: number, options: TimeoutScaleOptions = {}): number {
  return Math.round(baseMs * timeoutScale(options));
}

/** A deadline from {@link scaledDeadline}. */
export interface ScaledDeadline {
  /** The limit as of now: `baseMs` × the largest load factor seen so far. */
  limitMs(): number;
  /** What is left of {@link ScaledDeadline.limitMs} (≤ 0 once it has passed). */
  remainingMs(): number;
  /** The load factor behind {@link ScaledDeadline.limitMs}, for error messages. */
  readonly factor: number;
}

/**
 * A deadline of {@link scaledTimeout}(`baseMs`) counted from now that re-reads the load each time
 * it is asked and never shrinks. The load average trails the real load by up to a minute, so a
 * start that began on an idle machine just before it got busy (the test itself starting eight
 * processes, say) gets the longer limit when the first one runs out, instead of failing at it.
 */
export function scaledDeadline(
  baseMs: number,
  options: TimeoutScaleOptions & { now?: () => number } = {},
): ScaledDeadline {
  const now = options.now ?? Date.now;
  const startedAt = now();
  let factor = timeoutScale(options);
  const limitMs = () => {
    factor = Math.max(factor, timeoutScale(options));
    return Math.round(baseMs * factor);
  };
  return {
    limitMs,
    remainingMs: () => startedAt + limitMs() - now(),
    get factor() {
      return factor;
    },
  };
}

/** `base ms × factor`, for messages that say why a limit was what it was and how to change it. */
export function describeScaledLimit(baseMs: number, factor: number): string {
  return `${baseMs} ms × load factor ${factor.toFixed(2)}; set ${TIMEOUT_SCALE_ENV} to change the factor`;
}

/**
 * A timing bound a test asserts, stated for an idle machine, stretched by the machine's load only
 * (not CI's headroom): on an idle machine it is the stated number; beside CPU burners the same
 * number would measure the scheduler rather than the code under test.
 */
export function loadScaledBound(ms: number): number {
  return scaledTimeout(ms, { env: { [TIMEOUT_SCALE_ENV]: process.env[TIMEOUT_SCALE_ENV] } });
}
