// `npm start`: the whole mesh on this machine. Starts real Redis and Kafka (or uses REDIS_URL /
// KAFKA_BROKERS), every service as its own process on fixed local ports, shows that each one
// answers on both ports, plays one mini-program journey across every service through the edge
// (`--no-journey` skips it), then runs until Ctrl-C and stops everything gracefully. `--jaeger`
// also runs a local Jaeger (built from source once) and sends every service's traces to it.
// Every process is recorded the moment it is spawned, so a Ctrl-C or a failed start at any point
// leaves no process and no bound port behind; start-up limits scale with the machine's load
// (WXMESH_TIMEOUT_SCALE).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEMO_APPID,
  LOCAL_MESH,
  PAYMENT_NOTICE_TEMPLATE,
  playJourney,
  type JourneyStep,
} from '@wxmesh/gateway-client';
import {
  scaledTimeout,
  startInfra,
  startJaeger,
  startServiceProcesses,
  traceServices,
  waitForJaegerTrace,
  type Infra,
  type JaegerServer,
} from '@wxmesh/testing';
import { writeDevPaymentSecrets } from '../services/payment-callback/scripts/dev-keys.js';

const { values: flags } = parseArgs({
  options: { 'no-journey': { type: 'boolean', default: false }, jaeger: { type: 'boolean', default: false } },
});

const SERVICES = LOCAL_MESH;

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
}

/** One mini-program journey through the edge, each step printed with its result and trace id. */
async function showJourney(): Promise<void> {
  console.log("\na mini-program journey through the cloud gateway's door (Connect JSON, X-WX-*):");
  const print = (step: JourneyStep) => {
    console.log(`  ✓ ${step.name.padEnd(24)} ${step.result}`);
    console.log(`    ${''.padEnd(24)} trace ${step.traceId}  (${step.ms.toFixed(0)} ms)`);
  };
  let steps: readonly JourneyStep[];
  try {
    ({ steps } = await playJourney({ onStep: print }));
  } catch (err) {
    console.error(`  ✗ ${(err as Error).message}`);
    console.error("    the mesh keeps serving; the services' logs above say more.");
    return;
  }
  const jaeger = await run.jaeger;
  if (jaeger === undefined) {
    console.log("\n  see a step's trace: npm start -- --jaeger, then npm run trace -- <trace id>");
    return;
  }
  await showTracesInJaeger(jaeger, steps);
}

/** Each journey trace as Jaeger stored it: which services reported spans. */
async function showTracesInJaeger(jaeger: JaegerServer, steps: readonly JourneyStep[]): Promise<void> {
  console.log(`\nthe journey's traces in Jaeger (${jaeger.queryUrl}):`);
  for (const step of steps.filter((s) => s.name !== 'payment notice')) {
    try {
      const trace = await waitForJaegerTrace(jaeger.queryUrl, step.traceId, {
        services: step.services,
        timeoutMs: scaledTimeout(15_000),
      });
      const services = traceServices(trace).join(', ');
      console.log(`  ${step.name.padEnd(24)} ${step.traceId}  ${trace.spans.length} spans from ${services}`);
    } catch (err) {
      console.error(`  ${step.name.padEnd(24)} ${step.traceId}  ✗ ${(err as Error).message}`);
    }
  }
  console.log(`\n  npm run trace -- ${steps[0]!.traceId}   prints a trace as a span tree`);
}

function showHowToCall(): void {
  console.log('\nTry:');
  console.log(`  npm run gw -- EchoService/Echo '{"message":"hi"}' --openid o_me`);
  // The projector's days are China Standard Time dates.
  const today = new Date().toLocaleDateString('en-CA', { timeZone: 'Asia/Shanghai' });
  const funnel = JSON.stringify({ appid: DEMO_APPID, startDate: today, endDate: today });
  console.log(`  npm run gw -- BehaviourViewService/GetFunnel '${funnel}'`);
  console.log(`  curl -s -H "Content-Type: application/json" -H "X-WX-OPENID: o_me" \\`);
  console.log(
    `       -d '{"message":"hi"}' http://127.0.0.1:${SERVICES[2].http}/wxmesh.echo.v1.EchoService/Echo`,
  );
  console.log('\n[mesh] ready. Ctrl-C stops the mesh.\n');
}

/** How long a service may take to stop after SIGTERM (its drain and grace) before it is killed. */
const STOP_LIMIT_MS = 30_000;

/** Fails at once, naming the port, when a fixed port is taken (a mesh still running, say). */
async function checkPortsFree(): Promise<void> {
  const taken: string[] = [];
  for (const spec of SERVICES) {
    for (const [kind, port] of [
      ['grpc', spec.grpc],
      ['http', spec.http],
    ] as const) {
      const free = await new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once('error', () => resolve(false));
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
      });
      if (!free) taken.push(`${port} (${spec.name} ${kind})`);
    }
  }
  if (taken.length > 0) {
    throw new Error(
      `port ${taken.join(', ')} already in use: is another \`npm start\` still running? ` +
        `\`ss -ltnp 'sport = :${taken[0]!.split(' ')[0]}'\` shows who holds it.`,
    );
  }
}

/** Everything this script started, and whether it is stopping. */
const run: {
  infra?: Promise<Infra<{ redis: true; kafka: true }>>;
  jaeger?: Promise<JaegerServer>;
  services: ChildProcess[];
  stopping?: Promise<never>;
} = { services: [] };
/** Aborts an infrastructure start under way when the mesh is stopped during it. */
const interrupted = new AbortController();

/** SIGTERM, then SIGKILL if it has not exited within {@link STOP_LIMIT_MS}; resolves once it is gone. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      console.error(`pid ${child.pid} did not stop within ${STOP_LIMIT_MS} ms of SIGTERM: killing it`);
      child.kill('SIGKILL');
    }, STOP_LIMIT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops the services (each drains), then the infrastructure this script started, and exits. */
function stop(code: number): Promise<never> {
  run.stopping ??= (async () => {
    interrupted.abort(new Error('the mesh is stopping'));
    console.log('\nstopping wxmesh...');
    await Promise.all(run.services.map(terminate));
    // A start under way stops what it had started itself when aborted; one that just finished is stopped here.
    const infra = await run.infra?.catch(() => undefined);
    await infra?.stop();
    await (await run.jaeger?.catch(() => undefined))?.stop();
    console.log('wxmesh stopped.');
    process.exit(code);
  })();
  return run.stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C does not wait for the drain: exiting kills every recorded process.
    if (run.stopping) {
      console.error(`${signal} again: killing everything now`);
      process.exit(130);
    }
    void stop(0);
  });
}

async function startMesh(): Promise<void> {
  await checkPortsFree();
  run.infra = startInfra({
    redis: true,
    kafka: true,
    signal: interrupted.signal,
    progress: (line) => console.log(`[infra] ${line}`),
  });
  // Jaeger on its usual local ports, so `npm run trace` finds it; the first run builds it (~15 min).
  if (flags.jaeger) {
    run.jaeger = startJaeger({
      queryPort: 16686,
      otlpHttpPort: 4318,
      signal: interrupted.signal,
      progress: (line) => console.log(`[jaeger] ${line}`),
    });
    // Observed here so a failed start is reported once, by the await below, not as unhandled.
    run.jaeger.catch(() => undefined);
  }
  const infra = await run.infra;
  const jaeger = await run.jaeger;
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
    // No load balancer to tell locally: Ctrl-C stops at once instead of serving on for 5 s.
    DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '0',
    // The router's "payment received" subscribe message (the journey's sandbox knows the template).
    PAYMENT_NOTICE_TEMPLATE_ID: process.env.PAYMENT_NOTICE_TEMPLATE_ID ?? PAYMENT_NOTICE_TEMPLATE,
    ...(jaeger ? { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_BSP_SCHEDULE_DELAY: '500' } : {}),
  };
  console.log(`[mesh] starting ${SERVICES.length} services...`);
  const began = Date.now();
  // Fails fast: one service that does not start stops the others still starting.
  await startServiceProcesses(
    SERVICES.map((spec) => ({
      name: spec.name,
      options: {
        env: { ...env, GRPC_PORT: String(spec.grpc), HTTP_PORT: String(spec.http) },
        onLine: (line: string) => process.stdout.write(`[${spec.name}] ${line}\n`),
        onStderr: (chunk: string) => process.stderr.write(chunk),
        // Ctrl-C reaches only this script, which stops each service with one SIGTERM (a drain).
        ownProcessGroup: true,
        onSpawn: (child: ChildProcess) => void run.services.push(child),
      },
    })),
  );
  console.log(`[mesh] all services serving (took ${((Date.now() - began) / 1000).toFixed(1)} s)`);
  for (const child of run.services) {
    child.once('exit', (code, signal) => {
      if (run.stopping) return;
      console.error(`a service exited unexpectedly (code ${code}, signal ${signal}); stopping the mesh`);
      void stop(1);
    });
  }
}

try {
  await startMesh();
  await showWorking();
  if (!flags['no-journey']) await showJourney();
  showHowToCall();
} catch (err) {
  // A Ctrl-C during start-up stops the services, which then fail to start: that is no error.
  if (!run.stopping) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
  }
}
