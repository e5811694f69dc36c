// `npm test` (inside scripts/with-infra.ts): the prettier check, then lint, typecheck and test every
// project through Nx,
// then one closing line for the whole workspace — `N passed, N failed, N skipped` — summed from
// the JUnit files each project's test run writes.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const results = `${root}tmp/test-results`;
const format = spawnSync('npx', ['prettier', '--check', '--log-level', 'warn', '.'], {
  cwd: root,
  stdio: 'inherit',
});
// The workspace scripts belong to no Nx project; typecheck and lint them here.
const scripts = spawnSync('sh', ['-c', 'npx tsc -p scripts && npx eslint scripts'], {
  cwd: root,
  stdio: 'inherit',
});
const nx = spawnSync(
  'npx',
  ['nx', 'run-many', '-t', 'lint', 'typecheck', 'test', '--outputStyle=stream', ...process.argv.slice(2)],
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
