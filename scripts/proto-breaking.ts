// `node --import tsx scripts/proto-breaking.ts [--release]`, from the repository root: keeps proto/
// compatible with the last released contract, for the teams that decode our Kafka events and call
// our RPCs with code of their own (docs/events.md, "Compatibility").
//
// The released contract is committed as proto/releases/last-release.binpb: a buf image of the proto
// module and its imports, without source info. CI clones carry no release tags, so a git ref cannot
// be the baseline; a committed file can, and it doubles as a self-contained descriptor set that
// outsiders can hand to `protoc --descriptor_set_in`.
//
// Without arguments: `buf breaking proto --against proto/releases/last-release.binpb
// --exclude-imports` with the rules of buf.yaml (FILE); exits 1 listing every finding. With
// --release (run it when cutting a release, and commit the file with it): the same check, then the
// snapshot is rebuilt from the working tree. Like buf, it works on the buf workspace (buf.yaml,
// proto/, .cache/proto-deps) of the current directory.
import { access, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ensureProtoDeps, runBuf } from '../libs/contracts/scripts/generate.js';

const SNAPSHOT = 'proto/releases/last-release.binpb';

/** buf's exit code for "the check ran and found violations", as opposed to a failure to run. */
const BUF_FOUND_VIOLATIONS = 100;

const cwd = process.cwd();

async function snapshotExists(): Promise<boolean> {
  return access(SNAPSHOT).then(
    () => true,
    () => false,
  );
}

/**
 * Resolves when proto/ breaks nothing of the snapshot under buf.yaml's breaking rules (FILE: wire,
 * JSON and generated-code compatibility). Otherwise rejects with buf's findings, one
 * `path:line:col:message` each, naming the element (`Previously present field "3" with name
 * "aggregate_version" on message "BehaviourEvent" was deleted.`), or with buf's error when the
 * check could not run. Imports (protovalidate, google/protobuf) are left out: they are not ours,
 * and their versions are pinned and upgraded on purpose.
 */
async function checkAgainstRelease(): Promise<void> {
  if (!(await snapshotExists())) {
    throw new Error(`no release snapshot at ${SNAPSHOT}: create it with scripts/proto-breaking.ts --release`);
  }
  try {
    await runBuf(['breaking', 'proto', '--against', SNAPSHOT, '--exclude-imports'], { cwd });
  } catch (err) {
    // runBuf's error keeps execFile's as its cause: the exit code and buf's stdout.
    const run = (err as Error).cause as { code?: unknown; stdout?: string } | undefined;
    if (run?.code !== BUF_FOUND_VIOLATIONS) throw err;
    const findings = (run.stdout ?? '').split('\n').filter((line) => line.trim() !== '');
    throw new Error(
      `proto/ breaks the released contract (${SNAPSHOT}):\n  ${findings.join('\n  ')}\n` +
        'A change that breaks consumers needs a new package version (e.g. wxmesh.behaviour.v2, and for ' +
        'events a new topic wxmesh.behaviour.v2), never an edit of v1: see docs/events.md, "Compatibility".',
    );
  }
}

/** Makes the working tree's contract the released one, after checking it against the last one. */
async function releaseSnapshot(): Promise<void> {
  if (await snapshotExists()) await checkAgainstRelease();
  await mkdir(dirname(SNAPSHOT), { recursive: true });
  // Source info (comments, line numbers) would make every comment edit a snapshot change.
  await runBuf(['build', 'proto', '--exclude-source-info', '-o', SNAPSHOT], { cwd });
}

try {
  await ensureProtoDeps();
  if (process.argv.includes('--release')) {
    await releaseSnapshot();
    console.log(`${SNAPSHOT} now holds the contract of the working tree; commit it with the release`);
  } else {
    await checkAgainstRelease();
    console.log(`proto/ has no breaking changes against ${SNAPSHOT}`);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
