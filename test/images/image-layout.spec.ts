// Each service's image as its Dockerfile builds it, without a container engine: the final stage's
// files (its COPY lines, parsed from the Dockerfile), its WORKDIR and CMD, started with plain node
// and the environment its Deployment gives, must answer gRPC health SERVING and /readyz 200.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC } from '@wxmesh/events';
import {
  scaledTimeout,
  serviceNodeOptions,
  startInfra,
  startKafka,
  testKafka,
  waitFor,
  type Infra,
  type KafkaBroker,
} from '@wxmesh/testing';
import { checkHealth, healthClient } from '../support/standard-clients.js';
import { payKeys } from '../support/pay-keys.js';
import { readImageDockerfile } from './dockerfile.js';
import { reproduceImage, runInImage, startImage, type ImageRoot } from './image-layout.js';
import {
  parseFile,
  podTemplateOf,
  root as repoRoot,
  yamlFiles,
  type K8sObject,
} from '../manifests/manifest-tree.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SERVICES = readdirSync(`${root}services`, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const children: ChildProcess[] = [];
const scratchDirs: string[] = [];
let infra: Infra<{ redis: true; kafka: true }> | undefined;
/** A broker of the Jobs' own: the topic Job must meet a cluster without the topics. */
let jobKafka: Promise<KafkaBroker> | undefined;
let secrets = '';

before(async () => {
  infra = await startInfra({ redis: true, kafka: true });
  secrets = mkdtempSync(join(tmpdir(), 'wxmesh-image-secrets-'));
});
after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await infra?.stop();
  await (await jobKafka?.catch(() => undefined))?.stop();
  for (const dir of [...scratchDirs, secrets]) if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Container {
  env: Array<{ name: string; value?: string }>;
  securityContext: { runAsUser: number; runAsGroup: number };
  readinessProbe: { grpc: { service: string } };
}

function containerOf(service: string): Container {
  const path =
    service === 'wechat-sandbox'
      ? `${root}deploy/components/wechat-sandbox/deployment.yaml`
      : `${root}deploy/base/${service}/deployment.yaml`;
  const deployment = parse(readFileSync(path, 'utf8')) as K8sObject;
  return podTemplateOf<{ spec: { containers: Container[] } }>(deployment)!.spec.containers[0]!;
}

function secretFile(name: string, content: string): string {
  const path = join(secrets, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

/**
 * The Deployment's literal env, with what the cluster provides replaced by this machine's: loopback
 * and OS-picked ports, the harness's Redis and Kafka, secret files written here (Secrets mounted
 * there), no drain delay, and topics created (the platform's job in production).
 */
async function imageEnv(service: string, container: Container): Promise<Record<string, string>> {
  const env: Record<string, string> = Object.fromEntries(
    container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );
  const nodeOptions = serviceNodeOptions(service);
  if (nodeOptions !== undefined)
    assert.equal(env.NODE_OPTIONS, nodeOptions, 'the Deployment sets nodeOptions');
  delete env.OTEL_RESOURCE_ATTRIBUTES;
  Object.assign(env, {
    HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    DRAIN_DELAY_MS: '0',
    LOG_LEVEL: 'info',
    REDIS_URL: infra!.redisUrl,
    KAFKA_BROKERS: infra!.kafkaBrokers,
    EVENTS_CREATE_TOPICS: 'true',
    DEPENDENCY_TIMEOUT_MS: String(scaledTimeout(5_000)),
  });
  if (env.WECHAT_APP_SECRET_FILE)
    env.WECHAT_APP_SECRET_FILE = secretFile(
      'app-secret',
      `wx${randomBytes(8).toString('hex')}=${randomBytes(16).toString('hex')}\n`,
    );
  if (env.SESSION_KEY_ENCRYPTION_KEY_FILE)
    env.SESSION_KEY_ENCRYPTION_KEY_FILE = secretFile('at-rest-key', randomBytes(32).toString('base64'));
  if (service === 'message-router') env.WECHAT_PUSH_APPS = 'wximage:token';
  // The sandbox's Pay keys come from its Secret (files mounted, serial and key id as env): here a
  // matching set written for this run replaces them all.
  if (service === 'wechat-sandbox') Object.assign(env, (await payKeys(join(secrets, 'sandbox-pay'))).sandbox);
  if (service === 'payment-callback') {
    Object.assign(env, (await payKeys(join(secrets, 'pay'))).paymentCallback, {
      WECHATPAY_MCHID: '1900000109',
      WECHATPAY_NOTIFY_URL: 'https://pay.example.com/webhooks/wechatpay/notify',
    });
  }
  return env;
}

/** Resolves with the ports of the `serving` log line; rejects if the process ends first or the deadline passes. */
function whenServing(child: ChildProcess, output: string[]): Promise<{ grpcPort: number; httpPort: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('did not log serving in time'), scaledTimeout(60_000));
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${why}\n${output.slice(-40).join('\n')}`));
    };
    child.once('close', (code, signal) => fail(`exited (${code ?? signal}) before serving`));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes('"serving"')) return;
      const entry = JSON.parse(line) as { msg?: string; grpcPort: number; httpPort: number };
      if (entry.msg !== 'serving') return;
      clearTimeout(timer);
      resolve(entry);
    });
  });
}

test('the Dockerfiles differ only in the service they build (one change reaches every image)', () => {
  const template = (service: string) =>
    readFileSync(`${root}services/${service}/Dockerfile`, 'utf8').replaceAll(service, '<service>');
  for (const service of SERVICES) assert.equal(template(service), template(SERVICES[0]!), service);
});

test('every service folder has a Dockerfile whose user is the Deployment’s', () => {
  for (const service of SERVICES) {
    const { user } = readImageDockerfile(service);
    const { runAsUser, runAsGroup } = containerOf(service).securityContext;
    assert.equal(user, `${runAsUser}:${runAsGroup}`, `${service}: USER matches runAsUser:runAsGroup`);
  }
});

interface JobContainer {
  file: string;
  service: string;
  command: string[];
  env?: Array<{ name: string; value?: string }>;
}

/** Every Job and CronJob container under deploy/ that runs a wxmesh image with a command of its own. */
function jobContainers(): JobContainer[] {
  return yamlFiles(join(repoRoot, 'deploy')).flatMap((file) =>
    parseFile(file).flatMap((doc) => {
      interface Pod {
        spec?: { containers?: Array<{ image?: string; command?: string[]; env?: JobContainer['env'] }> };
      }
      const o = doc as { kind?: string };
      const pod = o.kind === 'Job' || o.kind === 'CronJob' ? podTemplateOf<Pod>(o) : undefined;
      return (pod?.spec?.containers ?? [])
        .filter((c) => c.image?.startsWith('wxmesh/') && c.command !== undefined)
        .map((c) => ({
          file,
          service: c.image!.replace(/^wxmesh\/|:.*$/g, ''),
          command: c.command!,
          env: c.env,
        }));
    }),
  );
}

/** Runs a Job's command in its image to the end; resolves with its exit code and output. */
function runJob(image: ImageRoot, job: JobContainer, env: Record<string, string>) {
  const child = runInImage(image, job.command, env);
  children.push(child);
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${job.command.join(' ')} did not end in time:\n${output.join('')}`));
    }, scaledTimeout(120_000));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.join('') });
    });
  });
}

test("the Jobs' commands run in their images: topics ensured, then a projector rebuild", async () => {
  const jobs = jobContainers();
  const commands = jobs.map((job) => job.command.slice(1).join(' ')).sort();
  assert.deepEqual(commands, ['dist/ensure-topics-main.mjs', 'dist/rebuild-main.mjs']);
  jobKafka = startKafka();
  const { brokers } = await jobKafka;
  const admin = testKafka(brokers, 'image-jobs').admin();
  await admin.connect();
  try {
    assert.ok(!(await admin.listTopics()).includes(BEHAVIOUR_TOPIC), 'the topic exists before the Job');
    const images = new Map<string, ImageRoot>();
    for (const job of [...jobs].sort((a) => (a.command.join(' ').includes('ensure-topics') ? -1 : 1))) {
      let image = images.get(job.service);
      if (image === undefined) {
        image = reproduceImage(readImageDockerfile(job.service));
        scratchDirs.push(image.scratch);
        images.set(job.service, image);
      }
      const env = await imageEnv(job.service, containerOf(job.service));
      for (const e of job.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      // A single broker here: replication 1, as the local overlay's patch sets for its dev Kafka.
      if (env.EVENTS_TOPIC_REPLICATION_FACTOR) env.EVENTS_TOPIC_REPLICATION_FACTOR = '1';
      // The rebuild swaps generations: under a prefix of its own on the Redis other specs share.
      Object.assign(env, {
        KAFKA_BROKERS: brokers,
        KEY_PREFIX: `wxm:image-job-${randomBytes(4).toString('hex')}:`,
      });
      const { code, output } = await runJob(image, job, env);
      assert.equal(code, 0, `${job.command.join(' ')} (${job.file}) exited ${code}:\n${output}`);
      if (job.command.join(' ').includes('rebuild')) assert.match(output, /"msg":"rebuild done"/);
    }
    const metadata = await admin.fetchTopicMetadata({ topics: [BEHAVIOUR_TOPIC, BEHAVIOUR_DLQ_TOPIC] });
    for (const topic of metadata.topics) assert.equal(topic.partitions.length, 6, topic.name);
  } finally {
    await admin.disconnect();
  }
});

for (const service of SERVICES) {
  test(`${service}: the image's files, WORKDIR and CMD serve health and /readyz`, async () => {
    const dockerfile = readImageDockerfile(service);
    const image = reproduceImage(dockerfile);
    scratchDirs.push(image.scratch);
    const container = containerOf(service);
    const child = startImage(image, await imageEnv(service, container));
    children.push(child);
    const output: string[] = [];
    const ports = await whenServing(child, output);
    const health = healthClient(`127.0.0.1:${ports.grpcPort}`);
    try {
      // The startup and liveness probes ask for '', the readiness probe for the service's own name.
      for (const name of new Set(['', container.readinessProbe.grpc.service]))
        await waitFor(async () => (await checkHealth(health, name)) === 'SERVING', {
          timeoutMs: scaledTimeout(10_000),
          message: `${service} health '${name}' SERVING`,
        });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.httpPort}/readyz`)).status === 200, {
        timeoutMs: scaledTimeout(10_000),
        message: `${service} /readyz 200`,
      });
    } finally {
      health.close();
    }
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(
      await exited,
      0,
      `${service} drains and exits 0 on SIGTERM:\n${output.slice(-20).join('\n')}`,
    );
  });
}
