import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { onExitCleanup } from './exit-cleanup.js';
import { findGo, isExecutable, logToStderr, tailText } from './host-tools.js';

/**
 * The Jaeger release the local tracing runs: v1.75.0, whose `cmd/jaeger` is the Jaeger v2 binary
 * (an OpenTelemetry collector with OTLP receivers, memory storage and the query API). Pinned
 * because it is the approved version; later ones are not.
 */
export const JAEGER_VERSION = 'v1.75.0';
const JAEGER_MODULE = 'github.com/jaegertracing/jaeger';
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the official Go tarball installs, for shells whose PATH does not name it. */
const OUTPUT_LIMIT = 64 * 1024;
/** How often a running build says it is still alive. */
const HEARTBEAT_MS = 30_000;
/** A lock its builder has not touched for this long belongs to a build that no longer runs. */
const STALE_LOCK_MS = 5 * 60_000;
/** How often a process waiting for another one's build looks again. */
const LOCK_POLL_MS = 2000;

/** Options of {@link ensureJaeger}. */
export interface EnsureJaegerOptions {
  /** Progress lines of a build (it takes a quarter of an hour); default: stderr. */
  progress?: (line: string) => void;
  /** Abandons the build (the `go` processes are killed) or the wait for another process's build. */
  signal?: AbortSignal;
}

/** `<cache>/go`: `$WXMESH_CACHE_DIR` or the gitignored `<repo>/.cache`, shared with grpcurl's build. */
function goCacheDir(): string {
  return join(process.env.WXMESH_CACHE_DIR?.trim() || join(REPO_ROOT, '.cache'), 'go');
}

/** Where the built binary lives: `<cache>/go/jaeger/<version>/jaeger`. */
export function jaegerBinaryPath(): string {
  return join(goCacheDir(), 'jaeger', JAEGER_VERSION, 'jaeger');
}

/**
 * The cached Jaeger binary, or undefined when it has not been built on this machine. Never builds:
 * for tests, which skip rather than spend a quarter of an hour compiling.
 */
export async function findCachedJaeger(): Promise<string | undefined> {
  const binary = jaegerBinaryPath();
  return (await isExecutable(binary)) ? binary : undefined;
}

/**
 * The path of the Jaeger {@link JAEGER_VERSION} binary, built from source the first time (about
 * 15–20 minutes; no registry this machine reaches ships the binary) and cached under
 * `<cache>/go/jaeger/<version>/` with Go's module and build caches beside it. The build writes a
 * temporary file that is renamed into place only when it succeeded, so a failed, aborted or killed
 * build never leaves a half binary. A lock file makes a second process (or a second call in this
 * one) wait for the build under way instead of starting its own; the lock of a build that died is
 * taken over. A source build serves the query API and OTLP intake but only a placeholder UI.
 */
export async function ensureJaeger(options: EnsureJaegerOptions = {}): Promise<string> {
  const progress = options.progress ?? logToStderr;
  const binary = jaegerBinaryPath();
  for (;;) {
    if (await isExecutable(binary)) return binary;
    options.signal?.throwIfAborted();
    const lock = await tryLock(`${binary}.lock`);
    if (lock === undefined) {
      await waitForOtherBuild(`${binary}.lock`, progress, options.signal);
      continue;
    }
    try {
      // Another process may have finished between the check above and taking the lock.
      if (!(await isExecutable(binary))) await buildJaeger(binary, lock, progress, options.signal);
    } finally {
      await lock.release();
    }
  }
}

interface BuildLock {
  /** Marks the lock as held by a live build, so waiters do not take it over. */
  touch(): Promise<void>;
  release(): Promise<void>;
}

/** Creates the lock file holding this pid, or returns undefined when another build holds it. */
async function tryLock(path: string): Promise<BuildLock | undefined> {
  await mkdir(join(path, '..'), { recursive: true });
  try {
    const file = await open(path, 'wx');
    await file.writeFile(String(process.pid));
    await file.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
  const forget = onExitCleanup(() => rmSync(path, { force: true }));
  return {
    touch: () => utimes(path, new Date(), new Date()).catch(() => undefined),
    release: async () => {
      await rm(path, { force: true });
      forget();
    },
  };
}

/**
 * Waits while the build holding the lock is alive; removes the lock of one that died (its process
 * is gone, or it stopped touching the lock). Two waiters removing the same stale lock at once can
 * end up building side by side: wasteful, but each renames its own finished file into place.
 */
async function waitForOtherBuild(
  path: string,
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  let told = false;
  for (;;) {
    const holder = await readLock(path);
    if (holder === undefined) return;
    if (!isAlive(holder.pid) || Date.now() - holder.touchedAt > STALE_LOCK_MS) {
      await rm(path, { force: true });
      return;
    }
    if (!told) {
      progress(`waiting for the Jaeger ${JAEGER_VERSION} build of process ${holder.pid} (${path})…`);
      told = true;
    }
    await delay(LOCK_POLL_MS, undefined, { signal });
  }
}

async function readLock(path: string): Promise<{ pid: number; touchedAt: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { pid: Number(text.trim()), touchedAt: info.mtimeMs };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `go mod download` of the Jaeger module, then `go build ./cmd/jaeger` inside the downloaded module
 * (`go install …@version` refuses a module whose go.mod has replace directives, and Jaeger's has
 * one), into a temporary file renamed to `binary` on success.
 */
async function buildJaeger(
  binary: string,
  lock: BuildLock,
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const go = await goCommand();
  const env = goEnv();
  const started = Date.now();
  progress(`building Jaeger ${JAEGER_VERSION} from source (first time only, ~15-20 min)…`);
  const heartbeat = setInterval(() => {
    progress(`  still building Jaeger ${JAEGER_VERSION} (${elapsed(started)})`);
    void lock.touch();
  }, HEARTBEAT_MS).unref();
  const partial = `${binary}.${process.pid}.partial`;
  const forgetPartial = onExitCleanup(() => rmSync(partial, { force: true }));
  try {
    const download = await runGo(go, ['mod', 'download', '-json', `${JAEGER_MODULE}@${JAEGER_VERSION}`], {
      env,
      signal,
    });
    const moduleDir = (JSON.parse(download) as { Dir?: string }).Dir;
    if (!moduleDir) throw new Error(`go mod download printed no module directory:\n${download}`);
    await runGo(go, ['build', '-o', partial, './cmd/jaeger'], { cwd: moduleDir, env, signal });
    await rename(partial, binary);
    progress(`built Jaeger ${JAEGER_VERSION} in ${elapsed(started)}: ${binary}`);
  } finally {
    clearInterval(heartbeat);
    await rm(partial, { force: true });
    forgetPartial();
  }
}

async function goCommand(): Promise<string> {
  const go = await findGo();
  if (go === undefined) {
    throw new Error(
      `Jaeger ${JAEGER_VERSION} is not built and Go is not installed: install Go (https://go.dev/dl), ` +
        `then run again; the first run builds ${JAEGER_MODULE}/cmd/jaeger from source (~15-20 min)`,
    );
  }
  return go;
}

/** Go's caches under `<cache>/go`, so the build neither needs nor touches ~/go. */
function goEnv(): NodeJS.ProcessEnv {
  const cache = goCacheDir();
  return {
    ...process.env,
    GOPATH: join(cache, 'path'),
    GOMODCACHE: join(cache, 'mod'),
    GOCACHE: join(cache, 'build'),
    // Module files are read-only by default, which would make the cache undeletable with rm -rf.
    GOFLAGS: [process.env.GOFLAGS, '-modcacherw'].filter(Boolean).join(' '),
  };
}

/**
 * Runs `go` in its own process group and resolves with its stdout; rejects with the tail of its
 * output when it fails. Aborting (or this process exiting) kills the whole group: `go build` runs
 * its compilers as children, which must not outlive it.
 */
function runGo(
  go: string,
  args: readonly string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; signal: AbortSignal | undefined },
): Promise<string> {
  options.signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const killGroup = () => {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    const forget = onExitCleanup(killGroup);
    options.signal?.addEventListener('abort', killGroup, { once: true });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    });
    const settle = (error: Error | undefined) => {
      forget();
      options.signal?.removeEventListener('abort', killGroup);
      if (options.signal?.aborted) reject(options.signal.reason);
      else if (error) reject(error);
      else resolve(stdout);
    };
    child.once('error', (err) => settle(err));
    child.once('close', (code, signal) => {
      if (code === 0) return settle(undefined);
      const tail = tailText(stripVTControlCharacters(output));
      settle(new Error(`go ${args.join(' ')} failed (${code ?? signal}):\n${tail}`));
    });
  });
}

function elapsed(since: number): string {
  const seconds = Math.round((Date.now() - since) / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
