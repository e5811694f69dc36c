// The sandbox's typed configuration: defaults, SANDBOX_APPS, and the SANDBOX_PAY_* variables, each bad
// value refused naming its variable.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@wxmesh/config';
import { loadSandboxConfig, PAY_KEY_VARIABLES } from './config.js';

/** The ConfigError a bad environment raises. */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadSandboxConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

const variablesOf = (error: ConfigError) => error.issues.map((issue) => issue.variable).sort();

/** Every Pay key variable set, the file ones to a readable file. */
function payEnv(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-config-'));
  const file = join(dir, 'key');
  writeFileSync(file, 'content\n');
  return Object.fromEntries(PAY_KEY_VARIABLES.map((v) => [v, v.endsWith('_FILE') ? file : `${v}-value`]));
}

test('defaults: no apps, no Pay keys, notifications at 0.01 scale signed with the public key', () => {
  const config = loadSandboxConfig({});
  assert.deepEqual(config.SANDBOX_APPS, []);
  for (const variable of PAY_KEY_VARIABLES) assert.equal(config[variable], undefined);
  assert.equal(config.SANDBOX_PAY_NOTIFY_TIME_SCALE, 0.01);
  assert.equal(config.SANDBOX_PAY_SIGN_WITH, 'public-key');
});

test('SANDBOX_APPS is a list of appid:secret; a bad item is refused without echoing it', () => {
  const config = loadSandboxConfig({ SANDBOX_APPS: 'wxa:one, wxb:two' });
  assert.deepEqual(config.SANDBOX_APPS, [
    { appid: 'wxa', secret: 'one' },
    { appid: 'wxb', secret: 'two' },
  ]);
  const error = refusal({ SANDBOX_APPS: 'wxa:one,leaked-secret' });
  assert.deepEqual(variablesOf(error), ['SANDBOX_APPS']);
  assert.doesNotMatch(error.message, /leaked-secret/);
});

test('the Pay key variables are all set or none: each missing one is named', () => {
  const all = payEnv();
  assert.equal(loadSandboxConfig(all).SANDBOX_PAY_MCHID, 'SANDBOX_PAY_MCHID-value');
  const { SANDBOX_PAY_PLATFORM_SERIAL: _serial, SANDBOX_PAY_APIV3_KEY_FILE: _key, ...partial } = all;
  assert.deepEqual(variablesOf(refusal(partial)), [
    'SANDBOX_PAY_APIV3_KEY_FILE',
    'SANDBOX_PAY_PLATFORM_SERIAL',
  ]);
});

test('a Pay key file that cannot be read is refused naming its variable', () => {
  const env = { ...payEnv(), SANDBOX_PAY_PLATFORM_KEY_FILE: '/nonexistent/sandbox/platform.pem' };
  assert.deepEqual(variablesOf(refusal(env)), ['SANDBOX_PAY_PLATFORM_KEY_FILE']);
});

test('SANDBOX_PAY_NOTIFY_TIME_SCALE is a number >= 0; SANDBOX_PAY_SIGN_WITH names a key', () => {
  assert.equal(
    loadSandboxConfig({ SANDBOX_PAY_NOTIFY_TIME_SCALE: '0.02' }).SANDBOX_PAY_NOTIFY_TIME_SCALE,
    0.02,
  );
  assert.equal(
    loadSandboxConfig({ SANDBOX_PAY_SIGN_WITH: 'certificate' }).SANDBOX_PAY_SIGN_WITH,
    'certificate',
  );
  for (const scale of ['fast', '-1', 'Infinity']) {
    assert.deepEqual(variablesOf(refusal({ SANDBOX_PAY_NOTIFY_TIME_SCALE: scale })), [
      'SANDBOX_PAY_NOTIFY_TIME_SCALE',
    ]);
  }
  assert.deepEqual(variablesOf(refusal({ SANDBOX_PAY_SIGN_WITH: 'platform' })), ['SANDBOX_PAY_SIGN_WITH']);
});
