// `npm test` (inside scripts/with-infra.ts): the prettier check, then lint, typecheck and test every
// project through Nx,
// then one closing line for the whole workspace — `N passed, N failed, N skipped` — summed from
// the JUnit files each project's test run writes.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const results = `${root}tmp/test-results`;
const format = spawnSync('npx', ['prettier', '--check', '--log-level', 'warn', '.'], {
  cwd: root,
  stdio: 'inherit',
});
// The workspace scripts and docs/examples belong to no Nx project: typecheck and lint them here,
// and keep proto/ compatible with the last release (docs/events.md, "Compatibility").
const scripts = spawnSync(
  'sh',
  ['-c', 'npx tsc -p scripts && npx eslint scripts docs && node --import tsx scripts/proto-breaking.ts'],
  { cwd: root, stdio: 'inherit' },
);
// Nx runs two projects at a time (nx.json). On a machine that is already busy before the suites
// start (a load of one or more per CPU: another job, CPU burners), two suites side by side each get
// less than a core and their service processes spend their deadlines waiting for the CPU, so run
// one project at a time there. An explicit `--parallel` argument wins.
const args = process.argv.slice(2);
const [load1 = 0, load5 = 0] = loadavg();
const loadPerCpu = Math.max(load1, load5) / availableParallelism();
if (loadPerCpu >= 1 && !args.some((a) => a.startsWith('--parallel'))) {
  console.log(
    `machine busy (load ${load1.toFixed(1)} on ${availableParallelism()} CPUs): one project at a time`,
  );
  args.push('--parallel=1');
}
const nx = spawnSync(
  'npx',
  ['nx', 'run-many', '-t', 'lint', 'typecheck', 'test', '--outputStyle=stream', ...args],
  { cwd: root, stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of existsSync(results) ? readdirSync(results).filter((f) => f.endsWith('.xml')) : []) {
  const xml = readFileSync(`${results}/${file}`, 'utf8');
  for (const testcase of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = testcase[2] ?? '';
    if (/<failure\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
}
const exitCode = (nx.status ?? 1) || (format.status ?? 1) || (scripts.status ?? 1);
if (exitCode !== 0 && failed === 0) failed = 1; // lint/typecheck or a crashed runner failed: never report green
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(exitCode);
