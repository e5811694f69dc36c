import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { scaledTimeout } from '@wxmesh/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('a bad configuration value stops a service at start-up with a message naming the variable', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: `${root}services/session`,
    env: { ...process.env, GRPC_PORT: 'abc', HTTP_PORT: '0', REDIS_URL: 'redis://:hunter2@/' },
    encoding: 'utf8',
    // A start-up (tsx compiles the service first): the limit scales with the machine's load.
    timeout: scaledTimeout(20_000),
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /GRPC_PORT: expected an integer between 0 and 65535, got "abc"/);
  assert.match(result.stderr, /REDIS_URL/);
  assert.doesNotMatch(result.stderr, /hunter2/, 'a secret in a bad value is never echoed');
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace for an operator mistake');
});
