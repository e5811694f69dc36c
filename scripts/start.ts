// `npm start`: the whole mesh on this machine. Starts real Redis and Kafka (or uses REDIS_URL /
// KAFKA_BROKERS), every service as its own process on fixed local ports, shows that each one
// answers on both ports, then runs until Ctrl-C and stops everything gracefully.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startInfra, startServiceProcess } from '@wxmesh/testing';
import { writeDevPaymentSecrets } from '../services/payment-callback/scripts/dev-keys.js';

/** The demo mini-program the sandbox and auth-verify both know locally. */
const DEMO_APPID = 'wx0123456789abcdef';

const SERVICES = [
  { name: 'wechat-sandbox', grpc: 50060, http: 8090 },
  { name: 'auth-verify', grpc: 50061, http: 8091 },
  { name: 'session', grpc: 50062, http: 8092 },
  { name: 'message-router', grpc: 50063, http: 8093 },
  { name: 'payment-callback', grpc: 50064, http: 8094 },
  { name: 'behaviour-projector', grpc: 50065, http: 8095 },
] as const;

const peerEnv = Object.fromEntries(
  SERVICES.map((s) => [`${s.name.toUpperCase().replace(/-/g, '_')}_ADDR`, `127.0.0.1:${s.grpc}`]),
);

/**
 * Local secrets, made once per checkout under tmp/ (never committed): the demo app's AppSecret,
 * shared with the sandbox, and auth-verify's at-rest encryption key.
 */
async function devSecrets(): Promise<Record<string, string>> {
  const dir = fileURLToPath(new URL('../tmp/dev-secrets/', import.meta.url));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string, make: () => string) => {
    const path = `${dir}${name}`;
    if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
    return path;
  };
  const appSecret = randomBytes(16).toString('hex');
  const appSecretFile = file('app-secret', () => `${DEMO_APPID}=${appSecret}\n`);
  const secret = /=(\S+)/.exec(readFileSync(appSecretFile, 'utf8'))![1]!;
  // WeChat Pay: a merchant key, an APIv3 key and the sandbox's platform keys, fresh each run.
  const pay = await writeDevPaymentSecrets(`${dir}pay`);
  return {
    ...pay.paymentCallback,
    ...pay.sandbox,
    WECHATPAY_BASE_URL: `http://127.0.0.1:${SERVICES[0].http}`,
    WECHATPAY_NOTIFY_URL: `http://127.0.0.1:${SERVICES[4].http}/webhooks/wechatpay/notify`,
    WECHAT_APP_SECRET_FILE: appSecretFile,
    SESSION_KEY_ENCRYPTION_KEY_FILE: file('session-key-encryption-key', () =>
      randomBytes(32).toString('base64'),
    ),
    SANDBOX_APPS: `${DEMO_APPID}:${secret}`,
    WECHAT_API_BASE_URL: `http://127.0.0.1:${SERVICES[0].http}`,
  };
}

/** A demo login through the real path: sandbox code → auth-verify.Login → session → VerifySession. */
async function demoLogin(): Promise<void> {
  const sandbox = `http://127.0.0.1:${SERVICES[0].http}`;
  const auth = `http://127.0.0.1:${SERVICES[1].http}/wxmesh.auth.v1.AuthVerifyService`;
  const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Record<string, unknown>;
  };
  const fixture = await post(`${sandbox}/sandbox/mp/js-codes`, { appid: DEMO_APPID, openid: 'o_demo_user' });
  const login = await post(`${auth}/Login`, { appid: DEMO_APPID, jsCode: fixture.js_code });
  const verified = await post(`${auth}/VerifySession`, { sessionToken: login.sessionToken });
  console.log(
    `\ndemo login: wx.login code -> Login -> session ${String(login.sessionId)} for ${String(verified.openid)}`,
  );
  // The same user calling session's edge with the token from Login (no gateway in between).
  const listed = await post(
    `http://127.0.0.1:${SERVICES[2].http}/wxmesh.session.v1.SessionService/ListSessions`,
    {},
    { authorization: `Bearer ${String(login.sessionToken)}` },
  );
  const sessions = (listed.sessions as unknown[] | undefined)?.length ?? 0;
  console.log(
    `demo Bearer call: ListSessions with the session token -> ${sessions} session(s) of ${String(verified.openid)}`,
  );
}

async function showWorking(): Promise<void> {
  console.log('\nwxmesh is up:');
  for (const spec of SERVICES) {
    const ready = await fetch(`http://127.0.0.1:${spec.http}/readyz`);
    const echo = await fetch(`http://127.0.0.1:${spec.http}/wxmesh.echo.v1.EchoService/Echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-wx-openid': 'o_demo_user' },
      body: JSON.stringify({ message: `hello ${spec.name}` }),
    });
    const body = (await echo.json()) as { message?: string; wechat?: { openid?: string } };
    console.log(
      `  ${spec.name.padEnd(20)} grpc 127.0.0.1:${spec.grpc}  http http://127.0.0.1:${spec.http}  ` +
        `readyz ${ready.status}  echo "${body.message}" as ${body.wechat?.openid}`,
    );
  }
  console.log('\nTry: curl -s -H "Content-Type: application/json" -H "X-WX-OPENID: o_me" \\');
  console.log(
    `       -d '{"message":"hi"}' http://127.0.0.1:${SERVICES[2].http}/wxmesh.echo.v1.EchoService/Echo`,
  );
  await demoLogin();
  console.log('Ctrl-C stops the mesh.\n');
}

const infra = await startInfra({ redis: true, kafka: true });
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  ...peerEnv,
  ...(await devSecrets()),
  REDIS_URL: infra.redisUrl,
  KAFKA_BROKERS: infra.kafkaBrokers,
  // Locally the http ports play the edge behind the cloud gateway (X-WX-* believed), and mesh
  // peers are known by the name their clients declare; the Kubernetes manifests use mTLS instead.
  EDGE_BEHIND_GATEWAY: process.env.EDGE_BEHIND_GATEWAY ?? 'true',
  PEER_IDENTITY: process.env.PEER_IDENTITY ?? 'declared',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
};
const children: ChildProcess[] = [];
let stopping = false;

async function stop(code: number): Promise<never> {
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await infra.stop();
  console.log('wxmesh stopped.');
  process.exit(code);
}

// Services run in process groups of their own (see ownProcessGroup): whatever way this script
// ends, they end with it.
process.on('exit', () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
process.on('SIGINT', () => void (stopping || stop(0)));
process.on('SIGTERM', () => void (stopping || stop(0)));

try {
  // allSettled, so a service that fails to start does not leave the others running unseen.
  const results = await Promise.allSettled(
    SERVICES.map((spec) =>
      startServiceProcess(spec.name, {
        env: { ...env, GRPC_PORT: String(spec.grpc), HTTP_PORT: String(spec.http) },
        onLine: (line) => process.stdout.write(`[${spec.name}] ${line}\n`),
        onStderr: (chunk) => process.stderr.write(chunk),
        // Ctrl-C reaches only this script, which stops each service with one SIGTERM (a drain).
        ownProcessGroup: true,
        onSpawn: (child) => children.push(child),
      }),
    ),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const child of children) {
    child.once('exit', (code, signal) => {
      if (!stopping) {
        console.error(`a service exited unexpectedly (code ${code}, signal ${signal}); stopping the mesh`);
        void stop(1);
      }
    });
  }
  await showWorking();
} catch (err) {
  // A Ctrl-C during start-up stops the services, which then fail to start: that is no error.
  if (!stopping) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
  }
}
