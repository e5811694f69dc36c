// `npm run bench`: every benchmark, one after another, each printing its numbers as ratios
// against a bare baseline measured in the same run. Infrastructure (Redis, Kafka) is started by
// scripts/with-infra.ts around this script for the benchmarks that need it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Paths from this directory. A domain's benchmark lives with its service when it needs code only
// that scope may import (WeChat Pay is reachable only from the payment scope); it is run by path.
const BENCHMARKS = [
  'kit.ts',
  'session.ts',
  'auth.ts',
  'callers.ts',
  'projector.ts',
  'router.ts',
  '../../services/payment-callback/bench/notify.ts',
];

for (const file of BENCHMARKS) {
  console.log(`\n== ${file}`);
  execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], {
    stdio: 'inherit',
  });
}
