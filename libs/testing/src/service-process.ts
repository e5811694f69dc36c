import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onExitCleanup } from './exit-cleanup.js';
import { describeScaledLimit, scaledDeadline, scaledTimeout } from './timeout-scale.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The start-up limit on an idle machine (tsx compiles the service first); scaled by the load. */
const DEFAULT_START_TIMEOUT_MS = 60_000;
/** How much of a process's output a start-up error quotes. */
const STDERR_TAIL_BYTES = 16 * 1024;
const STDOUT_TAIL_LINES = 40;

/** A service started as its own process, the way `npm start` and Kubernetes run it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  /** Every JSON log line the process has written so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
}

/** Options of {@link startServiceProcess}. */
export interface StartServiceOptions {
  /**
   * Extra environment; `GRPC_PORT`/`HTTP_PORT` default to 0 (OS-picked) and `DRAIN_DELAY_MS` to 0
   * (unless this or the test's own environment sets it): production keeps serving 5 s after
   * SIGTERM so load balancers notice, which would only make every test that stops a service wait.
   * `DEPENDENCY_TIMEOUT_MS` defaults to 5 s × the load factor ({@link scaledTimeout}), not
   * production's 1 s: with two CPU burners beside a dozen service processes a healthy Redis took
   * over 6 s to answer, and the factor is read at spawn, before the load it will meet. A test of the
   * fail-fast wait sets its own value. `PEER_DEADLINE_MS` (a peer call's budget) is 5 s × the
   * same factor, for the same reason.
   */
  readonly env?: Record<string, string>;
  /**
   * The start-up limit on an idle machine (default 60 s), stretched by the machine's load:
   * see {@link scaledDeadline}. A start-up limit is never what a test asserts, so it always scales.
   */
  readonly timeoutMs?: number;
  /** Called with every stdout line, e.g. to show the service's log. */
  readonly onLine?: (line: string) => void;
  /** Called with whatever the service writes to stderr (it is also kept for start-up errors). */
  readonly onStderr?: (chunk: string) => void;
  /**
   * Runs the service in a process group of its own, so a terminal's Ctrl-C (SIGINT to the
   * foreground group) reaches only the parent, which then stops the service with one SIGTERM
   * and lets it drain; in the parent's group it would get both and exit at once. The parent
   * must then stop the process itself.
   */
  readonly ownProcessGroup?: boolean;
  /**
   * Called with the process as soon as it is spawned, before it serves: record it there, so the
   * caller can stop it even while it starts (a test's `after`, a Ctrl-C).
   */
  readonly onSpawn?: (child: ChildProcess) => void;
  /**
   * A bundle of the service built by scripts/build.ts, run with plain node as production images
   * run it; by default the TypeScript source runs under tsx.
   */
  readonly bundle?: string;
  /**
   * Another TypeScript entry of the service, run under tsx instead of src/main.ts: a test's own
   * wiring of the service (a fault-injecting adapter, say), so production code needs no switch.
   */
  readonly entry?: string;
}

/**
 * The `nodeOptions` a service's package.json declares (V8 heap sizes and the like): the one place
 * they are written; its Deployment sets the same string as `NODE_OPTIONS` (checked by the manifest tests).
 */
export function serviceNodeOptions(name: string): string | undefined {
  const manifest = JSON.parse(readFileSync(`${root}services/${name}/package.json`, 'utf8')) as {
    nodeOptions?: string;
  };
  return manifest.nodeOptions;
}

function spawnService(name: string, options: StartServiceOptions): ChildProcess {
  const entry =
    options.bundle === undefined ? ['--import', 'tsx', options.entry ?? 'src/main.ts'] : [options.bundle];
  const nodeOptions = [process.env.NODE_OPTIONS, serviceNodeOptions(name)].filter(Boolean).join(' ');
  return spawn(process.execPath, entry, {
    cwd: `${root}services/${name}`,
    detached: options.ownProcessGroup ?? false,
    env: {
      ...process.env,
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '0',
      DEPENDENCY_TIMEOUT_MS: process.env.DEPENDENCY_TIMEOUT_MS ?? String(scaledTimeout(5_000)),
      PEER_DEADLINE_MS: process.env.PEER_DEADLINE_MS ?? String(scaledTimeout(5_000)),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The process's output as it arrives: its JSON log lines, and a bounded tail for error messages. */
function watchOutput(child: ChildProcess, options: StartServiceOptions) {
  const logs: Array<Record<string, unknown>> = [];
  const stdoutTail: string[] = [];
  let stderrTail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    options.onStderr?.(chunk.toString());
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    options.onLine?.(line);
    stdoutTail.push(line);
    if (stdoutTail.length > STDOUT_TAIL_LINES) stdoutTail.shift();
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line (a stray console.log): only the tail keeps it
    }
  });
  const output = () =>
    `--- stdout (last ${STDOUT_TAIL_LINES} lines) ---\n${stdoutTail.join('\n') || '(none)'}\n` +
    `--- stderr ---\n${stderrTail || '(none)'}`;
  return { logs, lines, output };
}

/**
 * Resolves with the `serving` log entry; rejects when the process exits or fails to spawn first,
 * or when the scaled start-up deadline passes (re-read when it runs out, so load that arrived
 * during the start still counts).
 */
function whenServing(
  name: string,
  child: ChildProcess,
  watched: ReturnType<typeof watchOutput>,
  baseMs: number,
): Promise<Record<string, unknown>> {
  const deadline = scaledDeadline(baseMs);
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${name} ${why}\n${watched.output()}`));
    };
    const arm = (ms: number) => {
      timer = setTimeout(() => {
        const left = deadline.remainingMs();
        if (left > 0) return arm(left);
        fail(`did not start in ${deadline.limitMs()} ms (${describeScaledLimit(baseMs, deadline.factor)})`);
      }, ms);
    };
    arm(deadline.remainingMs());
    child.once('error', (err) => fail(`could not be spawned: ${err.message}`));
    // 'close', not 'exit': by then the last lines it wrote have been read, and the error quotes them.
    child.once('close', (code, signal) => fail(`exited (${code ?? signal}) before serving`));
    let seen = 0;
    watched.lines.on('line', () => {
      const entries = watched.logs.slice(seen);
      seen = watched.logs.length;
      const serving = entries.find((entry) => entry.msg === 'serving');
      if (serving) {
        clearTimeout(timer);
        resolve(serving);
      }
    });
  });
}

/**
 * Starts `services/<name>/src/main.ts` as its own process (as `npm start` and Kubernetes run it)
 * and resolves once it logs `serving`, with the ports it bound. The process is recorded before
 * anything is awaited: `onSpawn` gets it at once, and it is killed if this process exits while it
 * still runs (a test file that fails or forgets to stop it leaks nothing). A start that fails —
 * the process exits first, or the load-scaled deadline passes — kills the process, waits until it
 * is gone (its ports are free again) and rejects with the tail of its stdout and stderr.
 */
export async function startServiceProcess(
  name: string,
  options: StartServiceOptions = {},
): Promise<ServiceProcess> {
  const child = spawnService(name, options);
  const forget = onExitCleanup(() => child.kill('SIGKILL'));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      forget();
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  options.onSpawn?.(child);
  const watched = watchOutput(child, options);
  let ports: Record<string, unknown>;
  try {
    ports = await whenServing(name, child, watched, options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  } catch (err) {
    await killAndWait(child, exited);
    throw err;
  }
  return {
    child,
    grpcAddress: `127.0.0.1:${ports.grpcPort}`,
    httpUrl: `http://127.0.0.1:${ports.httpPort}`,
    logs: watched.logs,
    exited,
  };
}

async function killAndWait(child: ChildProcess, exited?: Promise<unknown>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited ?? new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/** One process for {@link startServiceProcesses}: the arguments of {@link startServiceProcess}. */
export interface ServiceStart {
  readonly name: string;
  readonly options?: StartServiceOptions;
}

/**
 * Starts several services at once and resolves when all of them serve, in the order given. If one
 * fails, it fails fast: every process of this call (started or still starting) is killed and gone
 * before the first failure is thrown, with that process's output. With a plain `Promise.all` the
 * others would go on running unrecorded, and hold the test file open long after it failed.
 */
export async function startServiceProcesses(starts: readonly ServiceStart[]): Promise<ServiceProcess[]> {
  const children: ChildProcess[] = [];
  const pending = starts.map(({ name, options = {} }) =>
    startServiceProcess(name, {
      ...options,
      onSpawn: (child) => {
        children.push(child);
        options.onSpawn?.(child);
      },
    }),
  );
  try {
    return await Promise.all(pending);
  } catch (err) {
    await Promise.all(children.map((child) => killAndWait(child)));
    // The others now fail too, because of the kill: the first failure is the one to report.
    await Promise.allSettled(pending);
    throw err;
  }
}

/**
 * SIGTERM to every process still running (each drains as in production), resolved once all have
 * exited: how a test stops the services it started.
 */
export function stopProcesses(children: readonly ChildProcess[]): Promise<void> {
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  ).then(() => undefined);
}
