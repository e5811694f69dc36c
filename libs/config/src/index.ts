export {
  boolean,
  commaList,
  duration,
  durationOrOff,
  envField,
  hostPort,
  integer,
  logLevel,
  LOG_LEVELS,
  oneOf,
  port,
  sensitive,
  url,
  type EnvField,
  type LogLevel,
} from './fields.js';
export {
  ConfigError,
  defineConfig,
  loadConfig,
  loadConfigOrExit,
  type ConfigIssue,
  type Env,
} from './load-config.js';
export {
  commonServiceConfig,
  domainServiceConfig,
  kafkaBrokers,
  kafkaEventsConfig,
  redisUrl,
  type CommonServiceConfig,
} from './common.js';
export {
  SecretFileError,
  SecretFormatError,
  watchSecretFile,
  type SecretFile,
  type SecretFileProblem,
  type WatchSecretFileOptions,
} from './secret-file.js';
export * from './redis-config.js';
