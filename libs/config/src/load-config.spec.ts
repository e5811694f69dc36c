import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { commonServiceConfig, redisUrl } from './common.js';
import {
  boolean,
  commaList,
  duration,
  durationOrOff,
  hostPort,
  integer,
  logLevel,
  oneOf,
  port,
  sensitive,
  url,
} from './fields.js';
import { ConfigError, defineConfig, loadConfig, loadConfigOrExit, type Env } from './load-config.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

const one = <T>(field: z.ZodType<T, string>, value: string | undefined) =>
  loadConfig(defineConfig({ V: field }), { V: value }).V;

describe('loadConfig', () => {
  it('returns typed values and applies the common defaults', () => {
    const schema = defineConfig({ ...commonServiceConfig, REDIS_URL: redisUrl(), WX_APPID: z.string() });
    const config = loadConfig(schema, {
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      WX_APPID: 'wx123',
      GRPC_PORT: '50051',
      KAFKA_BROKERS: 'k1:9092, k2:9092,',
      PATH: '/usr/bin',
    });
    assert.deepEqual(config, {
      HOST: '0.0.0.0',
      GRPC_PORT: 50051,
      HTTP_PORT: 0,
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: 15_000,
      DRAIN_DELAY_MS: 5_000,
      REQUEST_MAX_BYTES: 4 * 1024 * 1024,
      REQUEST_HEADERS_TIMEOUT_MS: 10_000,
      REQUEST_TIMEOUT_MS: 30_000,
      MAX_CONCURRENT_STREAMS: 1_000,
      MAX_CONNECTIONS: 10_000,
      DEPENDENCY_TIMEOUT_MS: 1_000,
      PEER_DEADLINE_MS: 5_000,
      EDGE_BEHIND_GATEWAY: false,
      PEER_IDENTITY: 'declared',
      MESH_NAMESPACE: 'wxmesh',
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      KAFKA_BROKERS: ['k1:9092', 'k2:9092'],
      WX_APPID: 'wx123',
    });
  });

  it('names the variable, the expectation and the bad value', () => {
    const err = configError(() => loadConfig(defineConfig(commonServiceConfig), { GRPC_PORT: 'abc' }));
    assert.equal(
      err.message,
      'Invalid configuration:\n  GRPC_PORT: expected an integer between 0 and 65535, got "abc"',
    );
    assert.deepEqual(err.issues, [
      { variable: 'GRPC_PORT', message: 'expected an integer between 0 and 65535, got "abc"' },
    ]);
  });

  it('reports every bad and missing variable at once', () => {
    const schema = defineConfig({ ...commonServiceConfig, REDIS_URL: redisUrl(), WX_APPID: z.string() });
    const err = configError(() =>
      loadConfig(schema, { HTTP_PORT: '70000', LOG_LEVEL: 'loud', KAFKA_BROKERS: 'k1:9092,nope' }),
    );
    assert.deepEqual(
      err.issues.map((i) => i.variable),
      ['HTTP_PORT', 'LOG_LEVEL', 'REDIS_URL', 'KAFKA_BROKERS', 'WX_APPID'],
    );
    assert.match(
      err.message,
      /LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    );
    assert.match(
      err.message,
      /REDIS_URL: is required but not set \(expected a URL with scheme redis: or rediss:\)/,
    );
    assert.match(err.message, /KAFKA_BROKERS: item 2 of the comma-separated list: expected host:port, got/);
    assert.match(err.message, /WX_APPID: is required but not set$/m);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig(defineConfig(commonServiceConfig), { GRPC_PORT: '', LOG_LEVEL: '  ' });
    assert.equal(config.GRPC_PORT, 0);
    assert.equal(config.LOG_LEVEL, 'info');
    const err = configError(() => loadConfig(defineConfig({ WX_APPID: z.string() }), { WX_APPID: '' }));
    assert.match(err.message, /WX_APPID: is required but not set/);
  });

  it('never echoes sensitive values or URL credentials', () => {
    const schema = defineConfig({
      ...commonServiceConfig,
      REDIS_URL: redisUrl(),
      WX_APP_SECRET: sensitive(z.string().length(32)),
      WEBHOOK_URL: url({ protocols: ['https:'] }),
    });
    const err = configError(() =>
      loadConfig(schema, {
        REDIS_URL: 'http://:hunter2@redis:6379',
        WX_APP_SECRET: 'hunter2',
        WEBHOOK_URL: 'http://user:hunter2@example.com/hook',
      }),
    );
    assert.doesNotMatch(err.message, /hunter2/);
    assert.match(err.message, /REDIS_URL: expected a URL with scheme redis: or rediss:$/m);
    assert.match(err.message, /WX_APP_SECRET: /);
    assert.match(
      err.message,
      /WEBHOOK_URL: expected a URL with scheme https:, got "http:\/\/\*\*\*@example.com\/hook"/,
    );
  });
});

describe('field helpers', () => {
  it('duration accepts bare ms and unit suffixes, rejects zero, negatives and prose', () => {
    const cases: Record<string, number> = {
      '1500': 1500,
      '500ms': 500,
      '5s': 5000,
      '1.5s': 1500,
      '2m': 120_000,
      '1h': 3_600_000,
      '7d': 604_800_000,
    };
    for (const [raw, ms] of Object.entries(cases)) assert.equal(one(duration(), raw), ms, raw);
    for (const bad of ['0', '0s', '-5s', '5w', 'abc', '2 days']) {
      assert.match(configError(() => one(duration(), bad)).message, /V: expected a positive duration/, bad);
    }
  });

  it('durationOrOff is 0 for 0 or off, a duration otherwise', () => {
    assert.equal(one(durationOrOff(), '0'), 0);
    assert.equal(one(durationOrOff(), 'OFF'), 0);
    assert.equal(one(durationOrOff(), '30s'), 30_000);
    assert.equal(one(durationOrOff(), '250'), 250);
    for (const bad of ['0s', '-1s', 'no', '5w']) {
      assert.match(
        configError(() => one(durationOrOff(), bad)).message,
        /V: expected 0 or off, or a positive duration/,
        bad,
      );
    }
  });

  it('boolean accepts true/false/1/0 only', () => {
    assert.equal(one(boolean(), 'TRUE'), true);
    assert.equal(one(boolean(), '1'), true);
    assert.equal(one(boolean(), 'false'), false);
    assert.equal(one(boolean(), '0'), false);
    assert.match(
      configError(() => one(boolean(), 'yes')).message,
      /V: expected one of true, false, 1, 0, got "yes"/,
    );
  });

  it('port and integer check range and integrality', () => {
    assert.equal(one(port(), '0'), 0);
    assert.equal(one(port(), '65535'), 65535);
    for (const bad of ['65536', '-1', '80.5', '1e3']) assert.throws(() => one(port(), bad), ConfigError, bad);
    assert.equal(one(integer({ min: 1 }), '3'), 3);
    assert.match(configError(() => one(integer({ min: 1 }), '0')).message, /expected an integer >= 1/);
  });

  it('oneOf, logLevel, url, hostPort and commaList', () => {
    assert.equal(one(oneOf(['dev', 'prod']), 'prod'), 'prod');
    assert.throws(() => one(oneOf(['dev', 'prod']), 'PROD'), /expected one of dev, prod, got "PROD"/);
    assert.equal(one(logLevel(), 'DEBUG'), 'debug');
    assert.equal(one(url(), 'http://localhost:4318'), 'http://localhost:4318');
    assert.throws(() => one(url(), 'localhost:4318/x'), /expected an absolute URL/);
    assert.equal(one(hostPort(), '[::1]:9092'), '[::1]:9092');
    assert.throws(() => one(hostPort(), 'kafka:99999'), ConfigError);
    assert.deepEqual(one(commaList(), ' a, b ,,c '), ['a', 'b', 'c']);
    assert.deepEqual(one(commaList(port()), '1,2'), [1, 2]);
    assert.throws(() => one(commaList(undefined, { min: 1 }), ' , '), /at least 1 item/);
  });

  it('optional and default compose as in zod', () => {
    const schema = defineConfig({ A: port().optional(), B: duration().default(250) });
    assert.deepEqual(loadConfig(schema, {} satisfies Env), { B: 250 });
    assert.deepEqual(loadConfig(schema, { A: '1', B: '1s' }), { A: 1, B: 1000 });
  });
});

describe('loadConfigOrExit', () => {
  const schema = defineConfig(commonServiceConfig);

  it('prints the message without a stack trace and exits 1', () => {
    let written = '';
    let exitCode: number | undefined;
    const exited = new Error('exited');
    assert.throws(
      () =>
        loadConfigOrExit(
          schema,
          { GRPC_PORT: 'abc' },
          {
            write: (text) => (written += text),
            exit: (code) => {
              exitCode = code;
              throw exited;
            },
          },
        ),
      (err) => err === exited,
    );
    assert.equal(exitCode, 1);
    assert.equal(
      written,
      'Invalid configuration:\n  GRPC_PORT: expected an integer between 0 and 65535, got "abc"\n',
    );
    assert.doesNotMatch(written, /\bat .*:\d+:\d+/);
  });

  it('returns the config when valid', () => {
    assert.equal(loadConfigOrExit(schema, { HTTP_PORT: '8080' }).HTTP_PORT, 8080);
  });
});
