// `npm run -w services/behaviour-projector rebuild -- [--no-swap] [--keep-previous] [--drop-after 30s]`:
// replays the behaviour topic into a new generation and swaps it in (see app/rebuild-read-models.ts). Prints one
// JSON line with the result; exits non-zero on failure.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { duration, loadConfigOrExit } from '@wxmesh/config';
import { createKafka } from '@wxmesh/events';
import { createLogger } from '@wxmesh/rpc';
import { createApplyRedis, readModelStoreOptions } from './adapters/read-model-redis.js';
import { createReadModelStore } from './adapters/read-models.js';
import { projectorConfigSchema } from './config.js';
import { rebuildReadModels } from './app/rebuild-read-models.js';
import { newGenerationId } from './domain/generation-id.js';

const { values } = parseArgs({
  options: {
    'no-swap': { type: 'boolean', default: false },
    'keep-previous': { type: 'boolean', default: false },
    'drop-after': { type: 'string', default: '30s' },
    generation: { type: 'string' },
  },
});
const dropAfter = duration().safeParse(values['drop-after']);
if (!dropAfter.success) {
  console.error(`--drop-after: expected a duration such as 30s, got ${values['drop-after']}`);
  process.exit(2);
}
if (values.generation !== undefined && !/^[0-9A-Za-z_-]{1,40}$/.test(values.generation)) {
  console.error('--generation: expected 1..40 of [0-9A-Za-z_-]');
  process.exit(2);
}

const config = loadConfigOrExit(projectorConfigSchema);
const newGeneration = () => newGenerationId(Date.now, randomBytes);
const logger = createLogger({ name: 'behaviour-projector-rebuild', level: config.LOG_LEVEL });
// The live projector's apply connection, in any REDIS_MODE (see createApplyRedis); every other call
// here is sequential anyway.
const redis = createApplyRedis(config, logger, 'behaviour-projector-rebuild');
// The same client settings as the live projector (TLS, SASL from KAFKA_SECURITY and its files).
const kafka = createKafka({ clientId: `behaviour-projector-rebuild-${process.pid}`, config, logger });
try {
  await redis.connect();
  const result = await rebuildReadModels({
    kafka,
    store: createReadModelStore(redis, readModelStoreOptions(config, newGeneration)),
    config,
    generation: values.generation ?? newGeneration(),
    swap: !values['no-swap'],
    dropPreviousAfterMs: values['keep-previous'] ? undefined : dropAfter.data,
    logger,
  });
  console.log(JSON.stringify({ msg: 'rebuild done', ...result }));
  await redis.quit();
  process.exit(0);
} catch (err) {
  logger.error({ err }, 'rebuild failed');
  process.exit(1);
}
