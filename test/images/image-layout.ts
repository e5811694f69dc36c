// Reproduces a service image's final stage on this machine: the build stage's layout command run
// into a temporary build-stage directory, the final stage's COPY lines applied to an empty root,
// and its CMD started with that root's WORKDIR as cwd, the way the container runtime would.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse as parsePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageDockerfile } from './dockerfile.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A final stage reproduced under `rootDir` (the container's `/`). */
export interface ImageRoot {
  /** The temporary directory holding the build stage and the root: remove it when done. */
  readonly scratch: string;
  readonly rootDir: string;
  readonly cwd: string;
  readonly command: string;
  readonly args: readonly string[];
}

/**
 * The build stage's paths the final stage copies: the layout directory `npm run build -- --image`
 * wrote (absolute in the image, a temporary directory here) and Node's binary (the runner's own:
 * test/images/node-lts.spec.ts covers the image's Node version).
 */
function buildStagePath(path: string, layoutDir: string, layoutTarget: string): string {
  if (path === '/usr/local/bin/node') return process.execPath;
  const inLayout = path.replace(/\/$/, '');
  if (inLayout === layoutDir || inLayout.startsWith(`${layoutDir}/`))
    return join(layoutTarget, inLayout.slice(layoutDir.length));
  throw new Error(`the image spec does not know the build stage's ${path}: teach buildStagePath`);
}

/**
 * Builds the final stage of `dockerfile` under a fresh directory of the OS's temp dir: outside the
 * repository, so node cannot find the repository's node_modules by walking up from the bundle.
 */
export function reproduceImage(dockerfile: ImageDockerfile): ImageRoot {
  const scratch = mkdtempSync(join(tmpdir(), 'wxmesh-image-'));
  for (let dir = scratch; dir !== parsePath(dir).root; dir = dirname(dir))
    if (existsSync(join(dir, 'node_modules')))
      throw new Error(`${dir}/node_modules would hide a package the image lacks: use another TMPDIR`);
  const [flag, service, layoutDir] = dockerfile.layoutArgs;
  if (flag !== '--image' || !service || !layoutDir?.startsWith('/'))
    throw new Error(`unexpected layout command: npm run build -- ${dockerfile.layoutArgs.join(' ')}`);
  const layoutTarget = join(scratch, 'build-stage');
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', flag, service, layoutTarget], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const rootDir = join(scratch, 'root');
  for (const copy of dockerfile.copies) {
    if (copy.from !== 'build') throw new Error(`COPY --from=${copy.from}: only the build stage is known`);
    const source = buildStagePath(copy.source, layoutDir.replace(/\/$/, ''), layoutTarget);
    const destination = join(rootDir, copy.destination);
    mkdirSync(dirname(destination), { recursive: true });
    // The binary is linked, not copied (120 MB); a layout directory is moved into place when it can be.
    if (source === process.execPath) symlinkSync(source, destination);
    else if (!existsSync(destination) && source.startsWith(layoutTarget)) renameSync(source, destination);
    else cpSync(source, destination, { recursive: true });
  }
  const [command, ...args] = dockerfile.cmd;
  if (!command?.startsWith('/'))
    throw new Error(`CMD ${dockerfile.cmd.join(' ')}: an absolute binary is expected`);
  return { scratch, rootDir, cwd: join(rootDir, dockerfile.workdir), command: join(rootDir, command), args };
}

/** Starts the image's CMD in its WORKDIR with exactly `env` (nothing of this process's environment). */
export function startImage(image: ImageRoot, env: Record<string, string>): ChildProcess {
  return spawn(image.command, image.args, { cwd: image.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Starts `command` (a Job's container command, its binary absolute in the image) in the image's
 * WORKDIR with exactly `env`, as a Job running that image with a command of its own.
 */
export function runInImage(
  image: ImageRoot,
  command: readonly string[],
  env: Record<string, string>,
): ChildProcess {
  const [binary, ...args] = command;
  if (!binary?.startsWith('/'))
    throw new Error(`command ${command.join(' ')}: an absolute binary is expected`);
  return spawn(join(image.rootDir, binary), args, { cwd: image.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}
