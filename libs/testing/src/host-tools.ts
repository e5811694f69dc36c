import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { onExitCleanup } from './exit-cleanup.js';

const OUTPUT_LIMIT = 64 * 1024;

/** The absolute path of `name` on PATH, or undefined. */
export async function findCommand(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this PATH entry
    }
  }
  return undefined;
}

/** Runs a command to completion and returns its exit code and the tail of its combined output. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forget = onExitCleanup(() => child.kill('SIGKILL'));
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (err) => {
      forget();
      reject(err);
    });
    child.once('close', (code, signal) => {
      forget();
      resolve({ code: code ?? (signal ? 128 : 1), output: stripVTControlCharacters(output) });
    });
  });
}

/** The last `lines` lines of a text file, or '' when it cannot be read. */
export async function tailFile(path: string, lines = 40): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return tailText(text, lines);
}

/** The last `lines` non-empty-terminated lines of `text`. */
export function tailText(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

let aptQueue: Promise<unknown> = Promise.resolve();

/**
 * Finds `name` on PATH. When it is missing and this process runs as root (the project's CI and dev
 * machines), installs the Debian packages quietly with apt-get; otherwise throws a message telling
 * the user what to install. apt-get runs are serialised because dpkg allows only one at a time.
 */
export async function ensureCommand(
  name: string,
  debianPackages: readonly string[],
  log: (line: string) => void,
): Promise<string> {
  const found = await findCommand(name);
  if (found) return found;
  const packages = debianPackages.join(' ');
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${name} was not found on PATH. Install it first (Debian/Ubuntu: sudo apt-get install -y ${packages}), ` +
        `or point the tests at running servers with REDIS_URL / KAFKA_BROKERS.`,
    );
  }
  const install = aptQueue.then(async () => {
    const again = await findCommand(name);
    if (again) return again;
    log(`${name} not found: installing ${packages} with apt-get (once per machine)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = await runCommand('apt-get', ['update', '-qq'], { env });
    if (update.code !== 0) throw new Error(`apt-get update failed:\n${tailText(update.output)}`);
    const result = await runCommand(
      'apt-get',
      ['install', '-y', '-qq', '--no-install-recommends', ...debianPackages],
      {
        env,
      },
    );
    if (result.code !== 0) throw new Error(`apt-get install ${packages} failed:\n${tailText(result.output)}`);
    const installed = await findCommand(name);
    if (!installed) throw new Error(`apt-get installed ${packages} but ${name} is still not on PATH`);
    return installed;
  });
  aptQueue = install.catch(() => undefined);
  return install;
}

/** Progress lines of the harness go to stderr, so they never mix with a command's stdout. */
export function logToStderr(line: string): void {
  process.stderr.write(`[wxmesh/testing] ${line}\n`);
}

/** Wraps an async function so that every call shares the first call's promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

/** A command-line tool built from its Go module with `go install` (grpcurl, kustomize). */
export interface GoTool {
  /** The binary's name, also the folder under `<cache>/go/`. */
  name: string;
  /** The package path `go install` takes (`github.com/fullstorydev/grpcurl/cmd/grpcurl`). */
  module: string;
  version: string;
}

/**
 * The grpcurl release the interop tests use: the newest the Go module proxy serves as of this
 * writing (its tests run against 1.9.x, the line the issue was found with).
 */
export const GRPCURL: GoTool = {
  name: 'grpcurl',
  module: 'github.com/fullstorydev/grpcurl/cmd/grpcurl',
  version: 'v1.9.4',
};

/**
 * The kustomize release the manifest tests build every overlay with (kubectl embeds an older
 * kustomize, and CI machines need not have kubectl at all).
 */
export const KUSTOMIZE: GoTool = {
  name: 'kustomize',
  module: 'sigs.k8s.io/kustomize/kustomize/v5',
  version: 'v5.7.1',
};

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the official Go tarball installs, for shells whose PATH does not name it. */
const GO_INSTALL_PATH = '/usr/local/go/bin/go';

const goToolBuilds = new Map<string, Promise<string>>();

/** The path of a grpcurl {@link GRPCURL} binary (see {@link ensureGoTool}). */
export function ensureGrpcurl(log: (line: string) => void = logToStderr): Promise<string> {
  return ensureGoTool(GRPCURL, log);
}

/** The path of a kustomize {@link KUSTOMIZE} binary (see {@link ensureGoTool}). */
export function ensureKustomize(log: (line: string) => void = logToStderr): Promise<string> {
  return ensureGoTool(KUSTOMIZE, log);
}

/**
 * The path of `tool`'s binary, built from source with `go install` on first use and kept under
 * `<cache>/go/<name>/<version>/` (`<cache>` is `$WXMESH_CACHE_DIR` or the gitignored
 * `<repo>/.cache`), with Go's module and build caches beside it, so later runs start at once.
 * These tools publish no Debian package and this machine reaches only package registries, so the
 * Go module proxy is how they arrive; CI installs them the same way (.ci/run) before the tests.
 * Concurrent callers in one process share one build; the build's output is shown only if it fails.
 */
export function ensureGoTool(tool: GoTool, log: (line: string) => void = logToStderr): Promise<string> {
  const key = `${tool.module}@${tool.version}`;
  let build = goToolBuilds.get(key);
  if (build === undefined) {
    build = buildGoTool(tool, log);
    goToolBuilds.set(key, build);
    build.catch(() => goToolBuilds.delete(key));
  }
  return build;
}

async function buildGoTool(tool: GoTool, log: (line: string) => void): Promise<string> {
  const cache = join(process.env.WXMESH_CACHE_DIR?.trim() || join(REPO_ROOT, '.cache'), 'go');
  const bin = join(cache, tool.name, tool.version);
  const binary = join(bin, tool.name);
  if (await isExecutable(binary)) return binary;
  const target = `${tool.module}@${tool.version}`;
  const go = await findGo();
  if (go === undefined) {
    throw new Error(
      `${tool.name} ${tool.version} is not built and Go is not installed: install Go (https://go.dev/dl), ` +
        `then run the tests again; they build it with \`go install ${target}\``,
    );
  }
  log(`building ${tool.name} ${tool.version} with go install into ${bin} (once per machine)`);
  const env = {
    ...process.env,
    GOBIN: bin,
    GOMODCACHE: join(cache, 'mod'),
    GOCACHE: join(cache, 'build'),
    // Module files are read-only by default, which would make the cache undeletable with rm -rf.
    GOFLAGS: [process.env.GOFLAGS, '-modcacherw'].filter(Boolean).join(' '),
  };
  const result = await runCommand(go, ['install', target], { env });
  if (result.code !== 0 || !(await isExecutable(binary))) {
    throw new Error(`go install ${target} failed:\n${tailText(result.output)}`);
  }
  return binary;
}

/** The Go command: on PATH, or where Go's official tarball installs it; undefined without Go. */
export async function findGo(): Promise<string | undefined> {
  return (await findCommand('go')) ?? ((await isExecutable(GO_INSTALL_PATH)) ? GO_INSTALL_PATH : undefined);
}

/** True when `path` exists and this process may execute it. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
