import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { MessageRouterService } from '@wxmesh/contracts';
import {
  asPeer,
  startInfra,
  startServiceProcess,
  stopProcesses,
  type Infra,
  type ServiceProcess,
} from '@wxmesh/testing';

// message-router's world as real processes: the WeChat sandbox, two session replicas (a user's
// channel may sit on either), auth-verify (the access_token), and router replicas started per test
// on real Redis and Kafka.

export const APPID = 'wx0a1b2c3d4e5f6a70';
export const TEMPLATE = 'tpl_order_paid';
export const KEYWORDS = ['thing1', 'amount2'];
/** The "payment received" template, with the keywords the router's payment notice fills. */
export const PAYMENT_TEMPLATE = 'tpl_payment_received';

export interface RouterWorld {
  readonly infra: Infra<{ redis: true; kafka: true }>;
  /** The world's own Redis database (spec files share one Redis server). */
  readonly redisUrl: string;
  readonly sandbox: ServiceProcess;
  readonly sessions: readonly [ServiceProcess, ServiceProcess];
  readonly authVerify: ServiceProcess;
  /** Starts a router replica with `env` over the defaults; it is stopped with the world. */
  startRouter(env?: Record<string, string>): Promise<ServiceProcess>;
  /** A business backend's client of a router replica. */
  client(router: ServiceProcess): Client<typeof MessageRouterService>;
  /** Every secret the world was given, for leak checks. */
  readonly secrets: ReadonlySet<string>;
  stop(): Promise<void>;
}

/** Starts the world; every process is recorded before it is awaited, so a failed start leaks nothing. */
export async function startRouterWorld(options: { redisDb: number }): Promise<RouterWorld> {
  const children: ChildProcess[] = [];
  const stop = () => stopProcesses(children);
  // Start-up waits scale with a busy machine: several processes share two cores.
  const start = (name: string, env: Record<string, string>) =>
    startServiceProcess(name, {
      env: { SHUTDOWN_GRACE_MS: '5000', ...env },
      timeoutMs: 180_000,
      onSpawn: (child) => children.push(child),
    });
  let infra: Infra<{ redis: true; kafka: true }> | undefined;
  try {
    infra = await startInfra({ redis: true, kafka: true });
    const dir = mkdtempSync(join(tmpdir(), 'wxmesh-router-'));
    const appSecret = randomBytes(16).toString('hex');
    const encryptionKey = randomBytes(32).toString('base64');
    writeFileSync(join(dir, 'app-secret'), `${APPID}=${appSecret}\n`);
    writeFileSync(join(dir, 'encryption-key'), encryptionKey);
    const redisUrl = new URL(infra.redisUrl);
    redisUrl.pathname = `/${options.redisDb}`;
    const shared = { REDIS_URL: redisUrl.href, KAFKA_BROKERS: infra.kafkaBrokers };
    const sandbox = await start('wechat-sandbox', { ...shared, SANDBOX_APPS: `${APPID}:${appSecret}` });
    await post(sandbox, '/sandbox/mp/templates', { appid: APPID, template_id: TEMPLATE, keywords: KEYWORDS });
    await post(sandbox, '/sandbox/mp/templates', {
      appid: APPID,
      template_id: PAYMENT_TEMPLATE,
      keywords: ['character_string1', 'amount2', 'time3', 'thing4'],
    });
    const sessions = await Promise.all([start('session', shared), start('session', shared)]);
    const authVerify = await start('auth-verify', {
      ...shared,
      SESSION_ADDR: sessions[0].grpcAddress,
      WECHAT_API_BASE_URL: sandbox.httpUrl,
      WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
      SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    });
    const world = infra;
    return {
      infra: world,
      redisUrl: shared.REDIS_URL,
      sandbox,
      sessions: [sessions[0], sessions[1]],
      authVerify,
      startRouter: (env = {}) =>
        start('message-router', {
          ...shared,
          SESSION_ADDR: sessions[0].grpcAddress,
          AUTH_VERIFY_ADDR: authVerify.grpcAddress,
          WECHAT_API_BASE_URL: sandbox.httpUrl,
          PAYMENT_NOTICE_TEMPLATE_ID: PAYMENT_TEMPLATE,
          ...env,
        }),
      client: (router) =>
        createClient(
          MessageRouterService,
          createGrpcTransport({
            baseUrl: `http://${router.grpcAddress}`,
            interceptors: [asPeer('business-backend')],
          }),
        ),
      secrets: new Set([appSecret, encryptionKey]),
      async stop() {
        await stop();
        await world.stop();
      },
    };
  } catch (err) {
    await stop();
    await infra?.stop();
    throw err;
  }
}

async function post(sandbox: ServiceProcess, path: string, body: unknown) {
  return sandboxCall({ sandbox }, path, body);
}

/** A call to the sandbox's control API; throws with the answer when it is not 2xx. */
export async function sandboxCall(
  world: Pick<RouterWorld, 'sandbox'>,
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<Record<string, unknown>> {
  const res = await fetch(`${world.sandbox.httpUrl}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path}: ${res.status} ${text}`);
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/** Registers the test template and gives `openid` `count` one-time grants (or a long-term subscription). */
export async function subscribe(
  world: RouterWorld,
  openid: string,
  kind: 'one-time' | 'long-term' = 'long-term',
  count = 1,
  templateId = TEMPLATE,
) {
  await sandboxCall(world, '/sandbox/mp/subscriptions', {
    appid: APPID,
    openid,
    template_id: templateId,
    kind,
    count,
  });
}

/** The messages the sandbox has sent as WeChat, optionally for one user. */
export async function sentMessages(world: RouterWorld, openid?: string) {
  const query = new URLSearchParams({ appid: APPID, ...(openid ? { openid } : {}) });
  const body = (await sandboxCall(world, `/sandbox/mp/subscribe-messages?${query}`)) as unknown;
  return body as Array<{
    touser: string;
    template_id: string;
    data: Record<string, { value: string }>;
  }>;
}
