// `npm start`: the whole mesh on this machine. Starts real Redis and Kafka (or uses REDIS_URL /
// KAFKA_BROKERS), every service as its own process on fixed local ports, shows that each one
// answers on both ports, then runs until Ctrl-C and stops everything gracefully.
import type { ChildProcess } from 'node:child_process';
import { startInfra, startServiceProcess } from '@wxmesh/testing';

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
  console.log('Ctrl-C stops the mesh.\n');
}

const infra = await startInfra({ redis: true, kafka: true });
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  ...peerEnv,
  REDIS_URL: infra.redisUrl,
  KAFKA_BROKERS: infra.kafkaBrokers,
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

process.on('SIGINT', () => void (stopping || stop(0)));
process.on('SIGTERM', () => void (stopping || stop(0)));

try {
  const started = await Promise.all(
    SERVICES.map((spec) =>
      startServiceProcess(spec.name, {
        env: { ...env, GRPC_PORT: String(spec.grpc), HTTP_PORT: String(spec.http) },
        onLine: (line) => process.stdout.write(`[${spec.name}] ${line}\n`),
        onStderr: (chunk) => process.stderr.write(chunk),
      }),
    ),
  );
  children.push(...started.map((s) => s.child));
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
  console.error(err instanceof Error ? err.message : err);
  await stop(1);
}
