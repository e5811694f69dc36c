import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  startInfra,
  startServiceProcess,
  stopProcesses,
  type ServiceProcess,
  sandboxControl,
} from '@wxmesh/testing';
import { payKeys } from '../support/pay-keys.js';

// The whole mesh as real processes for the caller-model tests: the WeChat sandbox, and each domain
// service twice — once with its http port behind the cloud gateway (as in the mesh and `npm start`),
// once without (a service reached directly, where X-WX-* must never be believed) — plus a session
// replica whose sessions expire after a second, to mint expired tokens.

export const APPID = 'wx0a1b2c3d4e5f6a7b';
export const DOMAIN = [
  'auth-verify',
  'session',
  'payment-callback',
  'behaviour-projector',
  'message-router',
] as const;
export type Domain = (typeof DOMAIN)[number];

export interface Mesh {
  readonly sandbox: ServiceProcess;
  /** Behind the cloud gateway (`EDGE_BEHIND_GATEWAY=true`). */
  readonly gateway: Record<Domain, ServiceProcess>;
  /** Not behind a gateway. */
  readonly direct: Record<Domain, ServiceProcess>;
  /** Sessions created here expire one second after creation. */
  readonly shortSessions: ServiceProcess;
  /** Every WeChat secret the mesh was given, for the leak scan. */
  readonly secrets: ReadonlySet<string>;
  stop(): Promise<void>;
}

/** Starts the mesh; every process is recorded before it is awaited, so a failed start leaks nothing. */
export async function startMesh(): Promise<Mesh> {
  const children: ChildProcess[] = [];
  const stop = () => stopProcesses(children);
  const start = (name: string, env: Record<string, string>) =>
    startServiceProcess(name, {
      env: { SHUTDOWN_GRACE_MS: '2000', ...env },
      // Start-up waits scale with a busy machine: twelve processes share two cores here.
      timeoutMs: 180_000,
      onSpawn: (child) => children.push(child),
    });
  try {
    const infra = await startInfra({ redis: true, kafka: true });
    const dir = mkdtempSync(join(tmpdir(), 'wxmesh-callers-'));
    const appSecret = randomBytes(16).toString('hex');
    const encryptionKey = randomBytes(32).toString('base64');
    writeFileSync(join(dir, 'app-secret'), `${APPID}=${appSecret}\n`);
    writeFileSync(join(dir, 'encryption-key'), encryptionKey);
    const pay = await payKeys(join(dir, 'pay'));
    const shared = { REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers };
    const sandbox = await start('wechat-sandbox', {
      ...shared,
      ...pay.sandbox,
      SANDBOX_APPS: `${APPID}:${appSecret}`,
      SANDBOX_PAY_NOTIFY_TIME_SCALE: '0.02',
    });
    const sessionEnv = { ...shared, SESSION_MAX_PER_USER: '100' };
    const [sessionGateway, sessionDirect, shortSessions] = await Promise.all([
      start('session', { ...sessionEnv, EDGE_BEHIND_GATEWAY: 'true' }),
      start('session', sessionEnv),
      start('session', { ...sessionEnv, SESSION_IDLE_TTL: '1s' }),
    ]);
    const authEnv = {
      ...shared,
      SESSION_ADDR: sessionGateway.grpcAddress,
      WECHAT_API_BASE_URL: sandbox.httpUrl,
      WECHAT_APP_SECRET_FILE: join(dir, 'app-secret'),
      SESSION_KEY_ENCRYPTION_KEY_FILE: join(dir, 'encryption-key'),
    };
    const [authGateway, authDirect] = await Promise.all([
      start('auth-verify', { ...authEnv, EDGE_BEHIND_GATEWAY: 'true' }),
      start('auth-verify', authEnv),
    ]);
    const viaAuth = { ...shared, AUTH_VERIFY_ADDR: authGateway.grpcAddress };
    const viaRouter = {
      ...viaAuth,
      SESSION_ADDR: sessionGateway.grpcAddress,
      WECHAT_API_BASE_URL: sandbox.httpUrl,
    };
    const payment = async (gateway: boolean) => {
      const httpPort = await freePort();
      return start('payment-callback', {
        ...viaAuth,
        ...pay.paymentCallback,
        WECHATPAY_BASE_URL: sandbox.httpUrl,
        WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${httpPort}/webhooks/wechatpay/notify`,
        HTTP_PORT: String(httpPort),
        EDGE_BEHIND_GATEWAY: String(gateway),
      });
    };
    const [paymentGateway, paymentDirect, projectorGateway, projectorDirect, routerGateway, routerDirect] =
      await Promise.all([
        payment(true),
        payment(false),
        start('behaviour-projector', { ...viaAuth, EDGE_BEHIND_GATEWAY: 'true' }),
        start('behaviour-projector', viaAuth),
        start('message-router', { ...viaRouter, EDGE_BEHIND_GATEWAY: 'true' }),
        start('message-router', viaRouter),
      ]);
    return {
      sandbox,
      gateway: {
        'auth-verify': authGateway,
        session: sessionGateway,
        'payment-callback': paymentGateway,
        'behaviour-projector': projectorGateway,
        'message-router': routerGateway,
      },
      direct: {
        'auth-verify': authDirect,
        session: sessionDirect,
        'payment-callback': paymentDirect,
        'behaviour-projector': projectorDirect,
        'message-router': routerDirect,
      },
      shortSessions,
      secrets: new Set([appSecret, encryptionKey]),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A call to the sandbox's control API (fixtures: js-codes, user data, phone and OAuth codes). */
export function sandboxCall(mesh: Pick<Mesh, 'sandbox'>, path: string, body: unknown) {
  return sandboxControl(mesh.sandbox.httpUrl, path, body);
}
