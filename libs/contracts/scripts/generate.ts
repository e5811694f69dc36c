/**
 * Regenerates libs/contracts/src/gen from proto/ with buf + protoc-gen-es.
 *
 * The protos import protovalidate's `buf/validate/validate.proto`, which normally comes from
 * the BSR (buf.build/bufbuild/protovalidate). The BSR is not reachable from here, so the file is
 * taken from the Maven Central jar build.buf:protovalidate (it ships the .proto next to its
 * classes) and unpacked into the gitignored `.cache/proto-deps`, which buf.yaml declares as a
 * second workspace module. Generated code never contains validate_pb: buf.gen.yaml rewrites
 * that import to the copy exported by @bufbuild/protovalidate.
 *
 * Run: `npm run generate` (root) or `node --import tsx libs/contracts/scripts/generate.ts`.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Maven coordinates of the jar that carries buf/validate/validate.proto. */
export const PROTOVALIDATE_ARTIFACT = 'build.buf:protovalidate:1.3.0:jar';

/** Absolute path of the repository root (where buf.yaml and buf.gen.yaml live). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** Directory of the generated code, relative to the repository root (the `out` of buf.gen.yaml). */
export const GEN_DIR = 'libs/contracts/src/gen';

const depsDir = join(repoRoot, '.cache/proto-deps');
const validateProto = join(depsDir, 'buf/validate/validate.proto');
const stampFile = join(depsDir, '.artifact');

/**
 * Makes sure `.cache/proto-deps/buf/validate/validate.proto` exists and came from
 * {@link PROTOVALIDATE_ARTIFACT}. Cheap when already extracted; otherwise runs Maven, which
 * resolves the jar from ~/.m2 or Maven Central and unpacks only the .proto. Safe to call from
 * concurrent processes: each unpacks into its own temp dir and renames the file into place.
 */
export async function ensureProtoDeps(): Promise<void> {
  const stamp = await readFile(stampFile, 'utf8').catch(() => '');
  if (stamp === PROTOVALIDATE_ARTIFACT && (await exists(validateProto))) return;

  await mkdir(join(repoRoot, '.cache'), { recursive: true });
  const tmp = await mkdtemp(join(repoRoot, '.cache/proto-deps-'));
  try {
    try {
      await exec(
        'mvn',
        [
          '-B',
          '-q',
          'dependency:unpack',
          `-Dartifact=${PROTOVALIDATE_ARTIFACT}`,
          `-DoutputDirectory=${tmp}`,
          '-Dmdep.unpack.includes=buf/validate/validate.proto',
        ],
        { cwd: tmp, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      const out = err as { stdout?: string; stderr?: string };
      throw new Error(
        `Could not unpack ${PROTOVALIDATE_ARTIFACT} with Maven (is mvn installed and Maven Central or ~/.m2 reachable?)\n` +
          `${out.stdout ?? ''}${out.stderr ?? ''}`,
        { cause: err },
      );
    }
    await mkdir(join(depsDir, 'buf/validate'), { recursive: true });
    await rename(join(tmp, 'buf/validate/validate.proto'), validateProto);
    await writeFile(stampFile, PROTOVALIDATE_ARTIFACT);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs the workspace's pinned buf binary (node_modules/.bin/buf) from the repository root.
 * Resolves with its output; rejects with an error carrying stdout/stderr when buf exits non-zero.
 */
export async function runBuf(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(join(repoRoot, 'node_modules/.bin/buf'), [...args], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Error(`buf ${args.join(' ')} failed:\n${out.stdout ?? ''}${out.stderr ?? ''}`, { cause: err });
  }
}

/**
 * Generates code for the `proto` module with buf.gen.yaml. With `outputBase`, writes to
 * `<outputBase>/libs/contracts/src/gen` instead of the committed tree (the drift test uses this);
 * the output directory is wiped first, so stale files from deleted protos disappear.
 */
export async function generate(options: { outputBase?: string } = {}): Promise<void> {
  await ensureProtoDeps();
  const args = ['generate', '--template', 'buf.gen.yaml'];
  if (options.outputBase !== undefined) args.push('--output', options.outputBase);
  await runBuf(args);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await generate();
  console.log(`generated ${GEN_DIR}`);
}
