// `npm run bench`: every benchmark, one after another, each printing its numbers as ratios
// against a bare baseline measured in the same run. Infrastructure (Redis, Kafka) is started by
// scripts/with-infra.ts around this script for the benchmarks that need it. Arguments pick
// benchmarks by name: `npm run bench -- startup kit` runs startup.ts and kit.ts only.
import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

// Paths from this directory. A domain's benchmark lives with its service when it needs code only
// that scope may import (WeChat Pay is reachable only from the payment scope); it is run by path.
const BENCHMARKS = [
  'kit.ts',
  'events.ts',
  'session.ts',
  'auth.ts',
  'callers.ts',
  'projector.ts',
  'router.ts',
  '../../services/payment-callback/bench/notify.ts',
  'startup.ts',
];

const benchName = (file: string) => basename(file, '.ts');
const picked = process.argv.slice(2);
const unknown = picked.filter((name) => !BENCHMARKS.some((file) => benchName(file) === name));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map(benchName).join(', ')}`);
  process.exit(2);
}

for (const file of BENCHMARKS.filter((f) => picked.length === 0 || picked.includes(benchName(f)))) {
  console.log(`\n== ${file}`);
  execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], {
    stdio: 'inherit',
  });
}
