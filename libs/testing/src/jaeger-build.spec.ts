// ensureJaeger's bookkeeping around `go`: one build for concurrent callers, no half binary after a
// failed or aborted build, no go process left behind. A real build takes a quarter of an hour, so
// these run a stand-in `go` (a shell script first on PATH) with a private WXMESH_CACHE_DIR.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureJaeger, JAEGER_VERSION, jaegerBinaryPath } from './jaeger-build.js';
import { waitFor } from './wait-for.js';

const FAKE_GO = `#!/usr/bin/env bash
echo "$$ $*" >> "$FAKE_GO_LOG"
case "$1" in
  mod) printf '{"Path":"github.com/jaegertracing/jaeger","Dir":"%s"}\\n' "$FAKE_GO_MODULE_DIR" ;;
  build)
    # A real build takes minutes: long enough for a second caller to find it under way.
    sleep "$FAKE_GO_BUILD_SECONDS"
    if [ -n "$FAKE_GO_FAIL" ]; then echo "cmd/jaeger: $FAKE_GO_FAIL" >&2; exit 1; fi
    printf '#!/bin/sh\\necho jaeger\\n' > "$3" && chmod +x "$3" ;;
  *) exit 2 ;;
esac
`;

let scratch: string;
let goLog: string;
const saved = { PATH: process.env.PATH, WXMESH_CACHE_DIR: process.env.WXMESH_CACHE_DIR };

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'wxmesh-jaeger-build-'));
  await mkdir(join(scratch, 'bin'));
  await mkdir(join(scratch, 'module'));
  await writeFile(join(scratch, 'bin', 'go'), FAKE_GO);
  await chmod(join(scratch, 'bin', 'go'), 0o755);
  goLog = join(scratch, 'go.log');
  process.env.PATH = `${join(scratch, 'bin')}${delimiter}${saved.PATH}`;
  process.env.FAKE_GO_LOG = goLog;
  process.env.FAKE_GO_MODULE_DIR = join(scratch, 'module');
});

after(async () => {
  process.env.PATH = saved.PATH;
  if (saved.WXMESH_CACHE_DIR === undefined) delete process.env.WXMESH_CACHE_DIR;
  else process.env.WXMESH_CACHE_DIR = saved.WXMESH_CACHE_DIR;
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh, empty cache for one test, and a go log of its own. */
async function freshCache(name: string, build: { seconds: number; fail?: string }): Promise<string> {
  process.env.WXMESH_CACHE_DIR = join(scratch, name);
  process.env.FAKE_GO_BUILD_SECONDS = String(build.seconds);
  process.env.FAKE_GO_FAIL = build.fail ?? '';
  await rm(goLog, { force: true });
  return dirname(jaegerBinaryPath());
}

async function goCalls(): Promise<Array<{ pid: number; args: string }>> {
  const text = await readFile(goLog, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, ...args] = line.split(' ');
      return { pid: Number(pid), args: args.join(' ') };
    });
}

test('concurrent ensureJaeger calls share one build and get the same binary', async () => {
  const dir = await freshCache('concurrent', { seconds: 1 });
  const progress: string[] = [];
  const paths = await Promise.all(
    [1, 2, 3].map(() => ensureJaeger({ progress: (line) => progress.push(line) })),
  );
  assert.deepEqual(paths, [jaegerBinaryPath(), jaegerBinaryPath(), jaegerBinaryPath()]);
  const builds = (await goCalls()).filter((call) => call.args.startsWith('build'));
  assert.equal(builds.length, 1, `go build ran ${builds.length} times`);
  assert.ok(
    progress.includes(`building Jaeger ${JAEGER_VERSION} from source (first time only, ~15-20 min)…`),
    progress.join('\n'),
  );
  assert.deepEqual(await readdir(dir), ['jaeger'], 'no lock or partial file is left');
  assert.equal(
    await ensureJaeger({ progress: (line) => progress.push(`again: ${line}`) }),
    jaegerBinaryPath(),
  );
  assert.equal((await goCalls()).length, builds.length + 1, 'a built binary is used without running go');
});

test('a failed build rejects with go output and leaves no binary, partial file or lock', async () => {
  const dir = await freshCache('failing', { seconds: 0, fail: 'undefined: somethingBroken' });
  await assert.rejects(
    ensureJaeger({ progress: () => undefined }),
    /go build .* failed[\s\S]*undefined: somethingBroken/,
  );
  assert.deepEqual(await readdir(dir), []);
});

test('an aborted build kills go and leaves nothing behind', async () => {
  const dir = await freshCache('aborted', { seconds: 120 });
  const abort = new AbortController();
  const building = ensureJaeger({ progress: () => undefined, signal: abort.signal });
  const build = await waitFor(async () => (await goCalls()).find((call) => call.args.startsWith('build')), {
    timeoutMs: 20_000,
    message: 'the stand-in go build started',
  });
  abort.abort(new Error('user pressed Ctrl-C'));
  await assert.rejects(building, /user pressed Ctrl-C/);
  await waitFor(
    () => {
      try {
        process.kill(build.pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs: 10_000, message: `the go build process ${build.pid} is gone` },
  );
  assert.deepEqual(await readdir(dir), []);
});
