#!/usr/bin/env bash
# One project's tests (its `test` target): every *.spec.ts under the project run by node's test
# runner, human output on stdout and JUnit XML in tmp/test-results/ for the workspace summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$(node -p "require('./package.json').nx.name")"
mapfile -t files < <(find . -name '*.spec.ts' -not -path '*/node_modules/*' | sort)
mkdir -p "$root/tmp/test-results"
rm -f "$root/tmp/test-results/$name.xml"
if [ ${#files[@]} -eq 0 ]; then
  echo "$name: no tests"
  exit 0
fi
# --test-timeout bounds each spec file (its own process): a file that hangs, on a test or on a handle
# left open, is killed and reported failed after 10 minutes instead of holding CI to its hard limit.
exec node --import tsx --test --test-concurrency=1 --test-timeout=600000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$root/tmp/test-results/$name.xml" \
  "${files[@]}"
