// The compatibility gate of docs/events.md: scripts/proto-breaking.ts runs `buf breaking` (FILE
// rules) against the committed release snapshot. The committed tree passes; copies of it with a
// change that would break a consumer of the binary or JSON form fail naming the element; additive
// changes pass; --release refreshes the snapshot only from a compatible tree. Every check runs the
// script itself, as `npm test` and a release do, in the workspace it is started in.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { scaledTimeout } from '@wxmesh/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(root, 'scripts/proto-breaking.ts');
const SNAPSHOT = 'proto/releases/last-release.binpb';
const EVENT_PROTO = 'proto/wxmesh/behaviour/v1/behaviour_event.proto';
const scratch: string[] = [];

after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script in `cwd` (tsx by absolute URL: a scratch workspace has no node_modules). */
function runScript(cwd: string, ...args: string[]): Run {
  const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), SCRIPT, ...args], {
    cwd,
    encoding: 'utf8',
    // tsx compiles the script and buf builds two images (Maven unpacks protovalidate on a fresh clone).
    timeout: scaledTimeout(120_000),
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The findings of a run that must fail on a breaking change. */
function findingsOf(run: Run): string {
  assert.equal(run.status, 1, `expected the check to fail; stdout: ${run.stdout}`);
  assert.match(run.stderr, /^proto\/ breaks the released contract/);
  assert.match(run.stderr, /needs a new package version/, 'the failure says what to do instead');
  return run.stderr;
}

/**
 * A workspace laid out like the repository (buf.yaml, proto/ with the committed snapshot,
 * .cache/proto-deps) with `edits` applied to behaviour_event.proto. Each edit must find its text,
 * so a later change of the proto cannot turn a test into one that checks nothing.
 */
async function workspaceWith(...edits: [from: string, to: string][]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-breaking-spec-'));
  scratch.push(dir);
  await cp(join(root, 'buf.yaml'), join(dir, 'buf.yaml'));
  await cp(join(root, 'proto'), join(dir, 'proto'), { recursive: true });
  await mkdir(join(dir, '.cache'));
  // The script makes sure the repository's copy exists before buf reads it.
  await symlink(join(root, '.cache/proto-deps'), join(dir, '.cache/proto-deps'));
  await editEventProto(dir, edits);
  return dir;
}

async function editEventProto(dir: string, edits: [from: string, to: string][]): Promise<void> {
  const file = join(dir, EVENT_PROTO);
  let text = await readFile(file, 'utf8');
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `${EVENT_PROTO} no longer contains ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  await writeFile(file, text);
}

const NEW_FIELD: [string, string] = [
  '  optional uint64 aggregate_version = 3;',
  '  optional uint64 aggregate_version = 3;\n  string region = 7;',
];

describe('buf breaking against the release snapshot', () => {
  test('the committed tree passes', () => {
    const run = runScript(root);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /proto\/ has no breaking changes against proto\/releases\/last-release\.binpb/);
  });

  test('renumbering a BehaviourEvent field fails, naming the field', async () => {
    const dir = await workspaceWith([
      'optional uint64 aggregate_version = 3;',
      'optional uint64 aggregate_version = 30;',
    ]);
    assert.match(
      findingsOf(runScript(dir)),
      /behaviour_event\.proto:\d+:\d+:Previously present field "3" with name "aggregate_version" on message "BehaviourEvent" was deleted/,
    );
  });

  test('changing a field type fails, naming the field and both types', async () => {
    const dir = await workspaceWith(['string producer = 5 [', 'bytes producer = 5 [']);
    assert.match(
      findingsOf(runScript(dir)),
      /Field "5" with name "producer" on message "BehaviourEvent" changed type from "string" to "bytes"/,
    );
  });

  test('renaming a field fails: JSON consumers and generated code read it by name', async () => {
    const dir = await workspaceWith(['string event_id = 1 [', 'string id = 1 [']);
    const findings = findingsOf(runScript(dir));
    assert.match(findings, /Field "1" on message "BehaviourEvent" changed name from "event_id" to "id"/);
    assert.match(findings, /changed option "json_name" from "eventId" to "id"/);
  });

  test('deleting a payload kind fails, naming it', async () => {
    const dir = await workspaceWith(['    SessionEnded session_ended = 14;\n', '']);
    assert.match(
      findingsOf(runScript(dir)),
      /Previously present field "14" with name "session_ended" on message "BehaviourEvent" was deleted/,
    );
  });

  test('additive changes pass: a new envelope field and a new payload kind', async () => {
    const dir = await workspaceWith(
      NEW_FIELD,
      [
        '    SubscribeMessageSent subscribe_message_sent = 28;',
        '    SubscribeMessageSent subscribe_message_sent = 28;\n    UserBlocked user_blocked = 29;',
      ],
      [
        '// UserLoggedIn:',
        '// UserBlocked: new.\nmessage UserBlocked {\n  string reason = 1;\n}\n\n// UserLoggedIn:',
      ],
    );
    const run = runScript(dir);
    assert.equal(run.status, 0, run.stderr);
  });

  test('--release refreshes the snapshot from a compatible tree and refuses a breaking one', async () => {
    const dir = await workspaceWith(NEW_FIELD);
    const before = await readFile(join(dir, SNAPSHOT));
    assert.ok(!before.includes('region'), 'the committed snapshot predates the new field');
    const release = runScript(dir, '--release');
    assert.equal(release.status, 0, release.stderr);
    const released = await readFile(join(dir, SNAPSHOT));
    assert.ok(released.includes('region'), 'the refreshed snapshot holds the new field');

    // Removing the field the new release added is now a breaking change, and the snapshot stays.
    await editEventProto(dir, [['  string region = 7;\n', '']]);
    assert.match(
      findingsOf(runScript(dir, '--release')),
      /Previously present field "7" with name "region" on message "BehaviourEvent" was deleted/,
    );
    assert.deepEqual(await readFile(join(dir, SNAPSHOT)), released);
  });
});
