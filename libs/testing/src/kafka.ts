import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from './free-port.js';
import {
  saslSslListener,
  saslSslProperties,
  scramFormatArgs,
  type KafkaSaslSslListener,
  type KafkaSaslSslOptions,
} from './kafka-secure-listener.js';
import { ensureCommand, logToStderr, once, runCommand, tailFile, tailText } from './host-tools.js';
import { onExitCleanup } from './exit-cleanup.js';
import { describeExit, spawnServer } from './server-process.js';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/**
 * The Apache Kafka release the harness runs: the newest on Maven Central (org.apache.kafka:kafka_2.13)
 * as of this writing, verified with kafkajs 2.2.4 by kafkajs-proof.spec.ts. `WXMESH_KAFKA_VERSION`
 * overrides it (KRaft releases only: 3.3 and later).
 */
export const DEFAULT_KAFKA_VERSION = '4.4.0';

// Pinned so the first start does not depend on whichever plugin version Maven would pick.
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const COMPLETE_MARKER = '.complete.json';
const STOP_GRACE_MS = 10_000;
const PORT_ATTEMPTS = 3;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Options for {@link startKafka} and {@link installKafka}. */
export interface StartKafkaOptions {
  /** Apache Kafka version; default `WXMESH_KAFKA_VERSION` or {@link DEFAULT_KAFKA_VERSION}. */
  version?: string;
  /** Where the jars are kept; default `$WXMESH_CACHE_DIR/kafka/<version>` or `<repo>/.cache/kafka/<version>`. */
  cacheDir?: string;
  /**
   * How long to wait for the broker to answer on an idle machine (default 60 s), scaled by the
   * load ({@link scaledTimeout}): the first start on 2 busy cores is slow.
   */
  startTimeoutMs?: number;
  /**
   * Abandons the start: a broker already spawned is stopped and the promise rejects with the
   * signal's reason (a jar download under way finishes first; its files are kept for next time).
   */
  signal?: AbortSignal;
  /**
   * `auto.create.topics.enable` (default false): the project creates its topics explicitly, and a
   * producer or consumer naming a missing topic should fail in tests as it would in production.
   */
  autoCreateTopics?: boolean;
  /** JVM heap flags (default `['-Xms256m', '-Xmx512m']`). */
  heap?: readonly string[];
  /** Progress lines (downloads, installs); default: stderr. */
  log?: (line: string) => void;
  /**
   * Adds a SASL_SSL listener (SCRAM-SHA-512 user created when the storage is formatted, a
   * certificate from a throw-away CA) beside the plaintext one, which the broker itself, its
   * controller and the harness's readiness probe keep using: see {@link KafkaBroker.saslSsl}.
   */
  saslSsl?: KafkaSaslSslOptions;
}

/** A running single-node Kafka broker owned by the caller. */
export interface KafkaBroker {
  /** `127.0.0.1:<port>`, the value for KAFKA_BROKERS. */
  brokers: string;
  port: number;
  controllerPort: number;
  version: string;
  /** The broker's scratch directory (server.properties, broker.log, data/), removed by stop(). */
  dir: string;
  /** Stops the broker (SIGTERM, SIGKILL after a grace period) and removes its data; idempotent. */
  stop(): Promise<void>;
  /**
   * Freezes the broker process (SIGSTOP): connections stay open and nothing answers, which is
   * how a hung broker looks to clients. {@link KafkaBroker.resume} lets it go on.
   */
  pause(): void;
  /** Undoes {@link KafkaBroker.pause} (SIGCONT). */
  resume(): void;
  /** The SASL_SSL listener, when {@link StartKafkaOptions.saslSsl} asked for one. */
  saslSsl?: KafkaSaslSslListener;
}

/** The jars of one Kafka release, resolved from Maven Central into the cache. */
export interface KafkaInstallation {
  version: string;
  /** The directory holding every jar; the JVM classpath is `<libDir>/*`. */
  libDir: string;
}

/** The Kafka version the harness uses: `WXMESH_KAFKA_VERSION` when set, else {@link DEFAULT_KAFKA_VERSION}. */
export function kafkaVersion(env: NodeJS.ProcessEnv = process.env): string {
  return env.WXMESH_KAFKA_VERSION?.trim() || DEFAULT_KAFKA_VERSION;
}

function defaultCacheDir(version: string): string {
  const root = process.env.WXMESH_CACHE_DIR?.trim() || join(REPO_ROOT, '.cache');
  return join(root, 'kafka', version);
}

function pomXml(version: string): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>wxmesh.local</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/**
 * kafka_2.13 brings slf4j-api and (4.x) log4j-core but no binding between them, exactly as the
 * Apache distribution adds one itself; without it the broker logs nothing, and a failed start could
 * not be explained. Pick the binding that matches the versions Maven resolved.
 */
function loggingBinding(jars: readonly string[]): string {
  const log4j = jars.map((j) => /^log4j-core-(.+)\.jar$/.exec(j)?.[1]).find(Boolean);
  const slf4j = jars.map((j) => /^slf4j-api-(.+)\.jar$/.exec(j)?.[1]).find(Boolean);
  if (!slf4j) throw new Error(`no slf4j-api among the resolved Kafka jars: ${jars.join(', ')}`);
  const slf4jMajor = Number(slf4j.split('.')[0]);
  if (log4j) {
    return `org.apache.logging.log4j:${slf4jMajor >= 2 ? 'log4j-slf4j2-impl' : 'log4j-slf4j-impl'}:${log4j}`;
  }
  return `org.slf4j:slf4j-simple:${slf4j}`;
}

async function mvn(
  args: readonly string[],
  cwd: string,
  what: string,
  log: (line: string) => void,
): Promise<void> {
  const binary = await ensureCommand('mvn', ['maven'], log);
  const result = await runCommand(binary, ['-B', '-q', '-Dstyle.color=never', ...args], { cwd });
  if (result.code !== 0) {
    throw new Error(
      `mvn could not ${what} (is Maven Central reachable, and is it a released Apache Kafka version?):\n` +
        tailText(result.output, 30),
    );
  }
}

/**
 * Makes sure the jars of one Apache Kafka release are in the cache, resolving them from Maven
 * Central with `mvn` the first time (a generated pom + dependency:copy-dependencies); later calls
 * are offline and instant. Safe to run from several processes at once: each resolves into its own
 * staging directory and the first to finish renames it into place. Exported so CI can warm the
 * cache ahead of the tests.
 */
export async function installKafka(options: StartKafkaOptions = {}): Promise<KafkaInstallation> {
  const version = options.version ?? kafkaVersion();
  const dir = options.cacheDir ?? defaultCacheDir(version);
  const libDir = join(dir, 'libs');
  if (existsSync(join(libDir, COMPLETE_MARKER))) return { version, libDir };

  const log = options.log ?? logToStderr;
  await mkdir(dirname(dir), { recursive: true });
  const staging = `${dir}.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
  const forgetStaging = onExitCleanup(() => rmSync(staging, { recursive: true, force: true }));
  const started = Date.now();
  log(
    `downloading Apache Kafka ${version} (about 45 jars, ~45 MB) from Maven Central with mvn into ${dir}: ` +
      'first start only, later starts use the cache...',
  );
  const heartbeat = setInterval(
    () => log(`  still downloading Kafka ${version} jars (${Math.round((Date.now() - started) / 1000)} s)`),
    10_000,
  ).unref();
  try {
    await mkdir(join(staging, 'libs'), { recursive: true });
    await writeFile(join(staging, 'pom.xml'), pomXml(version));
    await mvn(
      [`${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', '-DoutputDirectory=libs'],
      staging,
      `resolve org.apache.kafka:kafka_2.13:${version}`,
      log,
    );
    const binding = loggingBinding(await readdir(join(staging, 'libs')));
    await mvn(
      [`${DEPENDENCY_PLUGIN}:copy`, `-Dartifact=${binding}`, '-DoutputDirectory=libs'],
      staging,
      `resolve ${binding}`,
      log,
    );
    const jars = (await readdir(join(staging, 'libs'))).filter((f) => f.endsWith('.jar')).sort();
    await writeFile(
      join(staging, 'libs', COMPLETE_MARKER),
      JSON.stringify({ version, jars }, null, 2) + '\n',
    );
    try {
      await rename(staging, dir);
    } catch {
      // Either another process finished first (keep its copy) or an incomplete leftover is in the way.
      if (!existsSync(join(libDir, COMPLETE_MARKER))) {
        await rm(dir, { recursive: true, force: true });
        await rename(staging, dir);
      }
    }
    log(
      `resolved ${jars.length} jars of Apache Kafka ${version} in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    return { version, libDir };
  } finally {
    clearInterval(heartbeat);
    await rm(staging, { recursive: true, force: true });
    forgetStaging();
  }
}

async function ensureJava17(log: (line: string) => void): Promise<string> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const binary =
    java && existsSync(java) ? java : await ensureCommand('java', ['openjdk-17-jre-headless'], log);
  const { output } = await runCommand(binary, ['-version']);
  const major = Number(/version "(?:1\.)?(\d+)/.exec(output)?.[1] ?? 0);
  if (major < 17) {
    throw new Error(`Kafka needs Java 17 or newer, but ${binary} is: ${output.split('\n')[0]}`);
  }
  return binary;
}

/** Kafka's Uuid text form: 16 random bytes, base64url; Kafka rejects ids that start with '-'. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function usesDynamicQuorum(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 3 || (major === 3 && minor >= 9);
}

function serverProperties(p: {
  version: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  autoCreateTopics: boolean;
  saslSsl: KafkaSaslSslListener | undefined;
}): string {
  const secure = p.saslSsl ? saslSslProperties(p.saslSsl) : undefined;
  const controller = `127.0.0.1:${p.controllerPort}`;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${p.port},${secure ? secure.listener + ',' : ''}CONTROLLER://${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${p.port}${secure ? ',' + secure.listener : ''}`,
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,${secure ? 'SASL_SSL:SASL_SSL,' : ''}CONTROLLER:PLAINTEXT`,
    ...(secure?.properties ?? []),
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    usesDynamicQuorum(p.version)
      ? `controller.quorum.bootstrap.servers=${controller}`
      : `controller.quorum.voters=1@${controller}`,
    `log.dirs=${p.dataDir}`,
    `auto.create.topics.enable=${p.autoCreateTopics}`,
    'num.partitions=1',
    // One node: every internal topic has one replica, and a few partitions keep start-up quick.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

const LOG4J2_PROPERTIES = `status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
`;

async function brokerAnswers(brokers: string, cluster: string): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'wxmesh-testing-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const answer = await admin.describeCluster();
    // Another test process's broker can win the race for a port picked free: only ours counts
    // (this one then fails to bind and is started again on other ports).
    return answer.clusterId === cluster && answer.brokers.some((b) => `${b.host}:${b.port}` === brokers);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Starts a real Apache Kafka broker (KRaft combined mode: broker and controller in one JVM, single
 * node) on free loopback ports, with its data in a fresh temporary directory, and resolves once a
 * kafkajs admin client gets cluster metadata from it, within a load-scaled limit. The jars come
 * from {@link installKafka} (downloaded once, then cached). Needs Java 17+. The broker is recorded
 * for clean-up as soon as it is spawned: a failed start stops it and throws with the tail of the
 * broker log, and a forgotten broker is killed when this process exits. The caller must call `stop()`.
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const log = options.log ?? logToStderr;
  const version = options.version ?? kafkaVersion();
  const [{ libDir }, java] = await Promise.all([
    installKafka({ ...options, version, log }),
    ensureJava17(log),
  ]);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const run = await prepareBrokerRun({
      java,
      libDir,
      version,
      autoCreateTopics: options.autoCreateTopics ?? false,
      saslSsl: options.saslSsl,
      log,
      signal: options.signal,
    });
    try {
      return await launchBroker(run, {
        heap: options.heap ?? ['-Xms256m', '-Xmx512m'],
        timeoutMs: scaledTimeout(options.startTimeoutMs ?? 60_000),
        signal: options.signal,
      });
    } catch (err) {
      // Another process took a port picked free before the broker bound it: pick others.
      if (err instanceof BrokerStartError && err.addressInUse && attempt < PORT_ATTEMPTS) continue;
      throw err;
    }
  }
}

/** A formatted, not yet started broker: its ports, identity, files and how to run its JVM. */
interface BrokerRun {
  readonly java: string;
  readonly version: string;
  readonly port: number;
  readonly controllerPort: number;
  /** `127.0.0.1:<port>`. */
  readonly brokers: string;
  readonly cluster: string;
  readonly runDir: string;
  readonly logFile: string;
  readonly propertiesFile: string;
  /** JVM arguments shared by the storage tool and the broker: logging config and classpath. */
  readonly jvm: readonly string[];
  readonly saslSsl: KafkaSaslSslListener | undefined;
  /** Removes the run directory (the broker's data and logs). */
  removeRunDir(): Promise<void>;
}

/** Why a broker did not start; `addressInUse` when another process won one of its ports. */
class BrokerStartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Picks free ports and a cluster id, writes server.properties and the log4j config into a fresh
 * temporary directory (removed at exit if forgotten) and formats the storage (KRaft).
 */
async function prepareBrokerRun(p: {
  java: string;
  libDir: string;
  version: string;
  autoCreateTopics: boolean;
  saslSsl: KafkaSaslSslOptions | undefined;
  log: (line: string) => void;
  signal: AbortSignal | undefined;
}): Promise<BrokerRun> {
  const port = await freePort();
  const controllerPort = await freePort();
  const runDir = await mkdtemp(join(tmpdir(), 'wxmesh-kafka-'));
  const forgetRunDir = onExitCleanup(() => rmSync(runDir, { recursive: true, force: true }));
  const log4jFile = join(runDir, 'log4j2.properties');
  const saslSsl = p.saslSsl ? await saslSslListener(runDir, p.saslSsl, p.log) : undefined;
  const run: BrokerRun = {
    java: p.java,
    version: p.version,
    port,
    controllerPort,
    brokers: `127.0.0.1:${port}`,
    cluster: clusterId(),
    runDir,
    logFile: join(runDir, 'broker.log'),
    propertiesFile: join(runDir, 'server.properties'),
    jvm: [`-Dlog4j2.configurationFile=${log4jFile}`, '-Djava.awt.headless=true', '-cp', join(p.libDir, '*')],
    saslSsl,
    removeRunDir: async () => {
      await rm(runDir, { recursive: true, force: true });
      forgetRunDir();
    },
  };
  const dataDir = join(runDir, 'data');
  await writeFile(
    run.propertiesFile,
    serverProperties({
      version: p.version,
      port,
      controllerPort,
      dataDir,
      autoCreateTopics: p.autoCreateTopics,
      saslSsl,
    }),
  );
  await writeFile(log4jFile, LOG4J2_PROPERTIES);
  await formatStorage(run, p.signal);
  return run;
}

/** Formats the run's storage for its cluster id; removes the run directory if that fails or the start is abandoned. */
async function formatStorage(run: BrokerRun, signal: AbortSignal | undefined): Promise<void> {
  const format = await runCommand(run.java, [
    ...run.jvm,
    'kafka.tools.StorageTool',
    'format',
    '--config',
    run.propertiesFile,
    '--cluster-id',
    run.cluster,
    ...(usesDynamicQuorum(run.version) ? ['--standalone'] : []),
    ...(run.saslSsl ? scramFormatArgs(run.saslSsl) : []),
  ]);
  if (format.code !== 0 || signal?.aborted) {
    await run.removeRunDir();
    signal?.throwIfAborted();
    throw new Error(`kafka-storage format failed for Kafka ${run.version}:\n${tailText(format.output, 30)}`);
  }
}

/**
 * Spawns the broker of a prepared run and waits until it answers as itself. On failure the broker
 * is stopped and its directory removed, then it rejects with the signal's reason or a
 * {@link BrokerStartError} carrying the tail of the broker log.
 */
async function launchBroker(
  run: BrokerRun,
  p: { heap: readonly string[]; timeoutMs: number; signal: AbortSignal | undefined },
): Promise<KafkaBroker> {
  const server = spawnServer(
    run.java,
    [
      ...p.heap,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      ...run.jvm,
      'kafka.Kafka',
      run.propertiesFile,
    ],
    { logFile: run.logFile, cwd: run.runDir },
  );
  const stop = once(async () => {
    await server.stop(STOP_GRACE_MS);
    await run.removeRunDir();
  });
  const exitedEarly = new AbortController();
  void server.exited.then((exit) =>
    exitedEarly.abort(new Error(`the Kafka broker ${describeExit(exit)} before answering`)),
  );
  try {
    await waitFor(() => brokerAnswers(run.brokers, run.cluster), {
      timeoutMs: p.timeoutMs,
      intervalMs: 250,
      message: `Kafka ${run.version} answering on ${run.brokers}`,
      signal: AbortSignal.any([exitedEarly.signal, ...(p.signal ? [p.signal] : [])]),
    });
  } catch (err) {
    const tail = await tailFile(run.logFile, 40);
    await stop();
    p.signal?.throwIfAborted();
    throw new BrokerStartError(
      `could not start Apache Kafka ${run.version} on ${run.brokers}: ${(err as Error).message}\n` +
        `--- broker log (last lines) ---\n${tail || '(empty)'}`,
      /address already in use/i.test(tail),
      { cause: err },
    );
  }
  const signal = (name: NodeJS.Signals) => () => void process.kill(server.pid!, name);
  const { brokers, port, controllerPort, version, runDir } = run;
  return {
    brokers,
    port,
    controllerPort,
    version,
    dir: runDir,
    stop,
    pause: signal('SIGSTOP'),
    resume: signal('SIGCONT'),
    ...(run.saslSsl ? { saslSsl: run.saslSsl } : {}),
  };
}
