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
 * With `--check`, generates into a temp dir instead and exits 1 when the committed code differs.
 * With `--breaking <git-ref>`, runs `buf breaking` (FILE rules) against proto/ as of that ref.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
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
 * Runs the workspace's pinned buf binary (node_modules/.bin/buf), by default from the repository
 * root (buf.yaml and the plugin path in buf.gen.yaml are relative to the working directory).
 * Resolves with its output; rejects with an error carrying stdout/stderr when buf exits non-zero.
 */
export async function runBuf(
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(join(repoRoot, 'node_modules/.bin/buf'), [...args], {
      cwd: options.cwd ?? repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Error(`buf ${args.join(' ')} failed:\n${out.stdout ?? ''}${out.stderr ?? ''}`, { cause: err });
  }
}

/**
 * Generates code for the `proto` module with buf.gen.yaml. With `outputBase`, writes to
 * `<outputBase>/libs/contracts/src/gen` instead of the committed tree (the drift check uses this);
 * the output directory is wiped first, so stale files from deleted protos disappear. `cwd` runs
 * buf in another workspace laid out like the repository root (tests use a patched copy).
 */
export async function generate(options: { outputBase?: string; cwd?: string } = {}): Promise<void> {
  await ensureProtoDeps();
  const args = ['generate', '--template', 'buf.gen.yaml'];
  if (options.outputBase !== undefined) args.push('--output', options.outputBase);
  await runBuf(args, options.cwd === undefined ? {} : { cwd: options.cwd });
}

/**
 * Lists how directory `actual` differs from directory `expected`, byte for byte: files only in
 * one of them and files whose contents differ, as sorted relative paths with a reason. Empty
 * means identical. A missing directory counts as empty.
 */
export async function diffTrees(expected: string, actual: string): Promise<string[]> {
  const [want, got] = await Promise.all([listFiles(expected), listFiles(actual)]);
  const diffs: string[] = [];
  for (const path of [...new Set([...want, ...got])].sort()) {
    if (!got.includes(path)) diffs.push(`${path}: missing`);
    else if (!want.includes(path)) diffs.push(`${path}: unexpected`);
    else if (!(await readFile(join(expected, path))).equals(await readFile(join(actual, path))))
      diffs.push(`${path}: content differs`);
  }
  return diffs;
}

/**
 * Regenerates into a temp dir and compares the result with the committed `libs/contracts/src/gen`.
 * Returns the differences (see {@link diffTrees}); empty means the committed code is current.
 */
export async function checkDrift(options: { cwd?: string } = {}): Promise<string[]> {
  const base = await mkdtemp(join(tmpdir(), 'wxmesh-contracts-'));
  try {
    await generate({ ...options, outputBase: base });
    return await diffTrees(join(repoRoot, GEN_DIR), join(base, GEN_DIR));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/**
 * Runs `buf breaking` (the FILE rules of buf.yaml) for the working tree against proto/ at a git
 * ref. buf's own `.git#ref=` input cannot be used because the protovalidate module lives in the
 * untracked `.cache`, so the ref's buf.yaml and proto/ are exported to a temp dir, given the same
 * `.cache/proto-deps`, and compared as a directory input. Rejects with buf's findings.
 */
export async function checkBreaking(ref: string): Promise<void> {
  await ensureProtoDeps();
  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-breaking-'));
  try {
    const archive = join(dir, 'ref.tar');
    await exec('git', ['archive', '--output', archive, ref, 'buf.yaml', 'proto'], { cwd: repoRoot });
    await exec('tar', ['-xf', archive], { cwd: dir });
    await mkdir(join(dir, '.cache'));
    await symlink(depsDir, join(dir, '.cache/proto-deps'));
    await runBuf(['breaking', '--against', dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const breakingAt = argv.indexOf('--breaking');
  if (breakingAt !== -1) {
    const ref = argv[breakingAt + 1];
    if (ref === undefined) throw new Error('usage: generate.ts --breaking <git-ref>');
    await checkBreaking(ref);
    console.log(`proto/ has no breaking changes against ${ref}`);
  } else if (argv.includes('--check')) {
    const diffs = await checkDrift();
    if (diffs.length > 0) {
      throw new Error(
        `${GEN_DIR} is out of date with proto/ (run npm run generate):\n  ${diffs.join('\n  ')}`,
      );
    }
    console.log(`${GEN_DIR} is up to date`);
  } else {
    await generate();
    console.log(`generated ${GEN_DIR}`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
