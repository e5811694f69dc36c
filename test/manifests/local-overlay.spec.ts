// The local overlay's WeChat credentials, end to end: `npm run local-credentials` writes a fresh
// set, the real kustomize renders deploy/overlays/local with it, and wechat-sandbox, session,
// auth-verify, payment-callback and message-router run as processes with the environment and the
// mounted Secret files of their RENDERED Deployments (each Secret volume written to a directory of
// its own). Only what a cluster decides differently is replaced (addresses, ports, the mesh's mTLS
// identity, the trace collector), never a credential. Then a mini-program login, a WeChat Pay
// payment and the push URL verification work: both sides hold the same credentials because the
// overlay generates them from one set.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { AuthVerifyService, PaymentService, PaymentState } from '@wxmesh/contracts';
import { createGatewayClient, type MeshEndpoints } from '@wxmesh/gateway-client';
import {
  freePort,
  scaledTimeout,
  startInfra,
  startServiceProcesses,
  stopProcesses,
  waitFor,
  type Infra,
  type ServiceProcess,
  type StartServiceOptions,
  sandboxControl,
} from '@wxmesh/testing';
import { loadOverlay, root } from './manifest-tree.js';
import { kustomizeObjects } from './rendered.js';
import {
  findRendered,
  podEnvironment,
  podSpecOf,
  type PodEnvironment,
  type RenderedObject,
} from './rendered-pod.js';

const run = promisify(execFile);
const CREDENTIALS = 'deploy/overlays/local/credentials';
/** The Secrets the local overlay generates from the credential set. */
const CREDENTIAL_SECRETS = [
  'auth-verify-wechat',
  'message-router-wechat-push',
  'payment-callback-wechatpay',
  'payment-callback-wechatpay-platform',
  'wechat-sandbox',
];

let work: string;
let firstRun: string;
let rendered: RenderedObject[];
let infra: Infra<{ redis: true; kafka: true }> | undefined;
const children: ServiceProcess['child'][] = [];
const pods: Record<string, PodEnvironment> = {};
let running: Record<'sandbox' | 'session' | 'auth' | 'payment' | 'router', ServiceProcess>;

/** deploy/ and istio/ copied to `dir`, without any credentials a developer wrote into the checkout. */
function copyManifests(dir: string): void {
  for (const tree of ['deploy', 'istio'])
    cpSync(join(root, tree), join(dir, tree), {
      recursive: true,
      filter: (source) => !relative(root, source).startsWith(CREDENTIALS),
    });
}

/** `npm run local-credentials -- --dir <dir>`, as a developer runs it; resolves with its output. */
async function localCredentials(dir: string): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'scripts/local-credentials.ts', '--dir', dir],
    { cwd: root },
  );
  return stdout;
}

/** The one rendered object a generator made from `name` (kustomize appends a content hash). */
function generated(kind: string, name: string): RenderedObject {
  const found = rendered.filter(
    (o) => o.kind === kind && new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name),
  );
  assert.equal(found.length, 1, `one generated ${kind} ${name}`);
  return found[0]!;
}

/** The Secrets a Deployment's pod reads: volumes, `env` keys and `envFrom`, each name once. */
function secretsNamedBy(deployment: RenderedObject): string[] {
  interface Pod {
    volumes?: Array<{ secret?: { secretName: string } }>;
    containers: Array<{
      env?: Array<{ valueFrom?: { secretKeyRef?: { name: string } } }>;
      envFrom?: Array<{ secretRef?: { name: string } }>;
    }>;
  }
  const pod = podSpecOf<Pod>(deployment);
  const names = [
    ...(pod.volumes ?? []).map((v) => v.secret?.secretName),
    ...pod.containers.flatMap((c) => [
      ...(c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name),
      ...(c.envFrom ?? []).map((e) => e.secretRef?.name),
    ]),
  ];
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}

const secretText = (name: string, key: string) =>
  Buffer.from(generated('Secret', name).data?.[key] ?? '', 'base64').toString('utf8');

/** Files of `dir` (recursively) with their modes, relative to it. */
function modes(dir: string): Record<string, number> {
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => [
      f,
      statSync(join(dir, f)).mode & 0o777,
    ]),
  );
}

/**
 * The process environment of a rendered Deployment, with what a cluster decides differently
 * replaced: where it listens, the harness's Redis and Kafka, `topology` (its peers' and WeChat's
 * addresses), and how peers are known (the pods' sidecars, which vouch for them under
 * `PEER_IDENTITY=mtls`, are absent here). No credential is replaced: `REDIS_URL` comes from a Secret
 * only because a URL may carry a password, and the dev Redis has none.
 */
function localStart(name: string, topology: Record<string, string>): StartServiceOptions {
  const pod = pods[name]!;
  const replacements: Record<string, string> = {
    HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    DRAIN_DELAY_MS: '0',
    SHUTDOWN_GRACE_MS: '2000',
    PEER_IDENTITY: 'declared',
    REDIS_URL: infra!.redisUrl,
    KAFKA_BROKERS: infra!.kafkaBrokers,
    ...topology,
  };
  const credentials = Object.keys(replacements).filter(
    (key) => pod.fromSecrets.has(key) && key !== 'REDIS_URL',
  );
  assert.deepEqual(credentials, [], `${name}: the test would replace a credential`);
  const env = { ...pod.env, ...replacements };
  // No trace collector runs here.
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return { env, timeoutMs: 180_000, onSpawn: (child) => children.push(child) };
}

/**
 * Starts sandbox and session, then auth-verify, payment-callback and message-router, each as its
 * Deployment runs it.
 */
async function startFromRenderedDeployments(): Promise<typeof running> {
  const secrets = join(work, 'mounted');
  for (const name of ['wechat-sandbox', 'session', 'auth-verify', 'payment-callback', 'message-router'])
    pods[name] = podEnvironment(rendered, name, secrets);
  const [sandbox, session] = await startServiceProcesses([
    { name: 'wechat-sandbox', options: localStart('wechat-sandbox', {}) },
    { name: 'session', options: localStart('session', {}) },
  ]);
  const paymentHttp = await freePort();
  const authGrpc = await freePort();
  const [auth, payment, router] = await startServiceProcesses([
    {
      name: 'auth-verify',
      options: localStart('auth-verify', {
        GRPC_PORT: String(authGrpc),
        SESSION_ADDR: session!.grpcAddress,
        WECHAT_API_BASE_URL: sandbox!.httpUrl,
      }),
    },
    {
      name: 'payment-callback',
      options: localStart('payment-callback', {
        HTTP_PORT: String(paymentHttp),
        AUTH_VERIFY_ADDR: `127.0.0.1:${authGrpc}`,
        WECHATPAY_BASE_URL: sandbox!.httpUrl,
        WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${paymentHttp}/webhooks/wechatpay/notify`,
      }),
    },
    {
      name: 'message-router',
      options: localStart('message-router', {
        SESSION_ADDR: session!.grpcAddress,
        AUTH_VERIFY_ADDR: `127.0.0.1:${authGrpc}`,
        WECHAT_API_BASE_URL: sandbox!.httpUrl,
      }),
    },
  ]);
  return { sandbox: sandbox!, session: session!, auth: auth!, payment: payment!, router: router! };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'wxmesh-local-overlay-'));
  copyManifests(work);
  firstRun = await localCredentials(join(work, CREDENTIALS));
  rendered = await kustomizeObjects<RenderedObject>(join(work, 'deploy/overlays/local'));
  infra = await startInfra({ redis: true, kafka: true });
  running = await startFromRenderedDeployments();
});

after(async () => {
  await stopProcesses(children);
  await infra?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** POST to the sandbox's control API (WeChat's side: js-codes, paying an order). */
const sandbox = (path: string, body: unknown) => sandboxControl(running.sandbox.httpUrl, path, body);

function gateway() {
  const at = (process: () => ServiceProcess, port: 'http' | 'grpc') =>
    port === 'http' ? process().httpUrl : `http://${process().grpcAddress}`;
  const serviceOf = (typeName: string) =>
    typeName === AuthVerifyService.typeName ? () => running.auth : () => running.payment;
  const endpoints: MeshEndpoints = {
    http: (typeName) => at(serviceOf(typeName), 'http'),
    grpc: (typeName) => at(serviceOf(typeName), 'grpc'),
  };
  return createGatewayClient(endpoints);
}

/** The app auth-verify knows, from its rendered Secret: `appid=AppSecret`. */
function authVerifyApp(): { appid: string; secret: string } {
  const [, appid, secret] =
    /^(wx[0-9a-f]{16})=(\S+)$/m.exec(secretText('auth-verify-wechat', 'app-secret')) ?? [];
  assert.ok(appid && secret, 'auth-verify-wechat holds an appid=AppSecret line');
  return { appid, secret };
}

describe('npm run local-credentials', () => {
  test('writes a complete set readable by its owner only, and keeps it on the next run', async () => {
    const dir = join(work, CREDENTIALS);
    assert.match(firstRun, /wrote a fresh local credential set/);
    const files = modes(dir);
    for (const [file, mode] of Object.entries(files))
      assert.equal(
        mode,
        statSync(join(dir, file)).isDirectory() ? 0o700 : 0o600,
        `${file} mode ${mode.toString(8)}`,
      );
    const contents = () =>
      Object.keys(files).map((f) =>
        statSync(join(dir, f)).isFile() ? readFileSync(join(dir, f), 'utf8') : '',
      );
    const written = contents();
    assert.match(await localCredentials(dir), /kept the existing local credential set/);
    assert.deepEqual(contents(), written);
  });

  test('every file a secretGenerator of the local overlay reads lies in the gitignored credentials directory', () => {
    const build = loadOverlay('local');
    const sources = build.secretSources;
    assert.deepEqual([...new Set(sources.map((s) => s.secret))].sort(), CREDENTIAL_SECRETS);
    for (const source of sources)
      assert.ok(
        relative(root, source.path).startsWith(`${CREDENTIALS}/`),
        `${source.secret} reads ${source.source}`,
      );
  });
});

describe('the rendered local overlay', () => {
  test('generates each WeChat Secret, and every Secret a Deployment names is one it renders', () => {
    for (const name of CREDENTIAL_SECRETS) generated('Secret', name);
    const secrets = new Set(rendered.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name));
    for (const deployment of rendered.filter((o) => o.kind === 'Deployment')) {
      for (const name of secretsNamedBy(deployment))
        assert.ok(
          secrets.has(name),
          `${deployment.metadata.name} names Secret ${name}, which is not rendered`,
        );
    }
    const sandboxSecrets = secretsNamedBy(findRendered(rendered, 'Deployment', 'wechat-sandbox'));
    assert.deepEqual(sandboxSecrets, [generated('Secret', 'wechat-sandbox').metadata.name]);
  });

  test('both sides hold the same credentials: the app, its push keys, the merchant and the APIv3 key', () => {
    const { appid, secret } = authVerifyApp();
    assert.equal(pods['wechat-sandbox']!.env.SANDBOX_APPS, `${appid}:${secret}`);
    assert.match(
      secretText('message-router-wechat-push', 'apps'),
      new RegExp(`^${appid}:[0-9a-f]{32}:[A-Za-z0-9+/]{43}$`),
    );
    assert.equal(
      pods['wechat-sandbox']!.env.SANDBOX_PAY_MCHID,
      pods['payment-callback']!.env.WECHATPAY_MCHID,
    );
    const file = (pod: string, variable: string) => readFileSync(pods[pod]!.env[variable]!, 'utf8');
    assert.equal(
      file('wechat-sandbox', 'SANDBOX_PAY_APIV3_KEY_FILE'),
      file('payment-callback', 'WECHATPAY_APIV3_KEY_FILE'),
    );
    const trusted = file('payment-callback', 'WECHATPAY_PLATFORM_KEYS_FILE');
    assert.ok(
      trusted.includes(pods['wechat-sandbox']!.env.SANDBOX_PAY_PUBLIC_KEY_ID!),
      'payment-callback trusts the public key id',
    );
  });
});

describe('login, payment and message push against the services as the local overlay runs them', () => {
  test('a mini-program login: a sandbox js_code, auth-verify Login, a session', async () => {
    const { appid } = authVerifyApp();
    const openid = `o_local_overlay_${Date.now()}`;
    const { js_code: jsCode } = (await sandbox('/sandbox/mp/js-codes', { appid, openid })) as {
      js_code: string;
    };
    const auth = gateway().client(AuthVerifyService, { user: { openid, appid } }).client;
    const answer = await auth.login({ appid, jsCode });
    assert.equal(answer.openid, openid);
    assert.ok(answer.sessionToken.length > 0, 'a session token');
  });

  test('a payment: the backend orders, the sandbox pays and notifies, payment-callback applies it', async () => {
    const { appid } = authVerifyApp();
    const openid = `o_local_overlay_pay_${Date.now()}`;
    const outTradeNo = `LOCAL${Date.now()}`;
    const backend = gateway().client(PaymentService, {
      as: { peer: 'business-backend' },
      user: { openid, appid },
    });
    await backend.client.createJsapiOrder({
      appid,
      openid,
      outTradeNo,
      amountTotal: 990,
      description: 'local overlay',
    });
    await sandbox(`/sandbox/pay/orders/${outTradeNo}/pay`, {});
    const payment = gateway().client(PaymentService, { user: { openid, appid } }).client;
    await waitFor(
      async () => (await payment.getPayment({ outTradeNo })).payment?.state === PaymentState.PAID,
      { timeoutMs: scaledTimeout(30_000), message: 'payment-callback to apply the sandbox notification' },
    );
  });

  test("message-router passes WeChat's push URL verification with the app's Token from its Secret", async () => {
    const [appid, token] = secretText('message-router-wechat-push', 'apps').split(':');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(8).toString('hex');
    const signature = createHash('sha1').update([token!, timestamp, nonce].sort().join('')).digest('hex');
    const query = new URLSearchParams({ signature, timestamp, nonce, echostr: 'local-overlay' });
    const res = await fetch(`${running.router.httpUrl}/webhooks/wechat/message/${appid}?${query}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'local-overlay');
  });
});
