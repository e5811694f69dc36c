// The unit specs that need no infrastructure, run once on the Node the images run (the Dockerfiles'
// NODE_VERSION, installed from the `node` npm package into .cache/node-lts/), so the deployed runtime
// is tested, not only the machine's Node.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scaledTimeout } from '@wxmesh/testing';
import { readImageDockerfile } from './dockerfile.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Pure code: every service's domain/, and the libs whose specs start nothing. */
const SPEC_ROOTS = [
  ...readdirSync(`${root}services`).map((service) => `services/${service}/src/domain`),
  'libs/wechat/src',
  'libs/wechat-pay/src',
  'libs/config/src',
];
let run: ChildProcess | undefined;
after(() => {
  if (run && run.exitCode === null && run.signalCode === null) run.kill('SIGKILL');
});

function imageNodeVersion(): string {
  const services = readdirSync(`${root}services`).filter((name) =>
    existsSync(`${root}services/${name}/Dockerfile`),
  );
  const versions = new Set(services.map((service) => readImageDockerfile(service).nodeVersion));
  assert.equal(versions.size, 1, `every image runs one Node version: ${[...versions].join(', ')}`);
  return [...versions][0]!;
}

/** `node@<version>` from npm, installed once per version under .cache/node-lts/ (gitignored). */
function installNode(version: string): string {
  const prefix = `${root}.cache/node-lts/${version}`;
  const binary = `${prefix}/node_modules/node/bin/node`;
  if (!existsSync(binary))
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `node@${version}`,
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: scaledTimeout(120_000) },
    );
  return binary;
}

function specFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.spec.ts')) found.push(relative(root, path));
    }
  };
  for (const dir of SPEC_ROOTS) if (existsSync(`${root}${dir}`)) walk(`${root}${dir}`);
  return found.sort();
}

/** Runs `files` under `node --import tsx --test` with a load-scaled deadline; resolves with its TAP output. */
function runSpecs(node: string, files: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    run = spawn(node, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
      cwd: root,
      // Not this runner's NODE_TEST_CONTEXT: with it the child would report to a parent runner, not as TAP.
      env: { ...process.env, NODE_OPTIONS: '', NODE_TEST_CONTEXT: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    run.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      run!.kill('SIGKILL');
      reject(new Error(`the unit specs did not finish in time on ${node}\n${output.slice(-4000)}`));
    }, scaledTimeout(180_000));
    run.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test("the unit specs pass on the images' Node version", async () => {
  const version = imageNodeVersion();
  const node = installNode(version);
  assert.equal(execFileSync(node, ['-v'], { encoding: 'utf8' }).trim(), `v${version}`);
  const files = specFiles();
  assert.ok(files.length >= 20, `found the domain and lib specs (${files.length})`);
  const { code, output } = await runSpecs(node, files);
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
  assert.equal(code, 0, `the specs failed on Node ${version}:\n${output.slice(-6000)}`);
  assert.equal(count('fail'), 0);
  assert.ok(count('pass') >= files.length, `${count('pass')} specs passed on Node ${version}`);
});
