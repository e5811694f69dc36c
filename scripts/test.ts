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

const unescapeXml = (text: string) =>
  text.replace(/&(quot|apos|lt|gt|amp);/g, (_, entity: string) => XML_ENTITIES[entity] ?? '');
// node's JUnit reporter escapes attribute values twice.
const attributeText = (value: string) => unescapeXml(unescapeXml(value));
const XML_ENTITIES: Record<string, string> = { quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' };

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
for (const file of existsSync(results) ? readdirSync(results).filter((f) => f.endsWith('.xml')) : []) {
  const xml = readFileSync(`${results}/${file}`, 'utf8');
  for (const testcase of xml.matchAll(/<testcase\b((?:[^>"]|"[^"]*")*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = testcase[3] ?? '';
    const failure = /<failure\b[^>]*?message="([^"]*)"/.exec(body);
    if (failure || /<failure\b/.test(body)) {
      failed++;
      const name = /\bname="([^"]*)"/.exec(testcase[1] ?? '')?.[1] ?? '(unnamed)';
      const message = attributeText(failure?.[1] ?? '');
      failures.push(`${file.replace(/\.xml$/, '')}: ${attributeText(name)}\n    ${message.slice(0, 300)}`);
    } else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
}
const exitCode = (nx.status ?? 1) || (format.status ?? 1) || (scripts.status ?? 1);
if (exitCode !== 0 && failed === 0) failed = 1; // lint/typecheck or a crashed runner failed: never report green
// The failures again at the very end, so a CI log's tail names them without a search through the
// interleaved output of every project.
if (failures.length > 0) console.log(`\nfailed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(exitCode);
