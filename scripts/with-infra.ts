// `node --import tsx scripts/with-infra.ts -- <command> [args...]`: runs a command with a real Redis
// and a real Kafka broker. REDIS_URL / KAFKA_BROKERS already set are used as they are; otherwise
// the servers are started on free loopback ports (progress on stderr) and exported to the command.
// SIGINT/SIGTERM are passed on to the command (during start-up they stop the servers and exit);
// the servers are always stopped afterwards, and this process exits with the command's exit code
// (128 + signal number when the command was killed by a signal).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { startInfra, type Infra } from '@wxmesh/testing';

const separator = process.argv.indexOf('--');
const [command, ...args] = separator === -1 ? process.argv.slice(2) : process.argv.slice(separator + 1);
if (!command) {
  console.error('usage: node --import tsx scripts/with-infra.ts -- <command> [args...]');
  process.exit(2);
}

function describe(infra: Infra<{ redis: true; kafka: true }>): string {
  const { redis, kafka } = infra.started;
  const redisPart = redis ? `Redis ${redis.url} (started)` : `Redis ${infra.redisUrl} (from REDIS_URL)`;
  const kafkaPart = kafka
    ? `Apache Kafka ${kafka.version} at ${kafka.brokers} (started)`
    : `Kafka ${infra.kafkaBrokers} (from KAFKA_BROKERS)`;
  return `with-infra: ${redisPart}, ${kafkaPart}`;
}

let child: ChildProcess | undefined = undefined;
const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    const code = 128 + constants.signals[signal];
    if (!child) {
      // Interrupted while the servers start: stop what has started and exit. A second signal does
      // not wait: exiting runs the harness's exit hook, which kills them.
      if (interrupted.signal.aborted) process.exit(code);
      interrupted.abort(Object.assign(new Error(`interrupted by ${signal}`), { exitCode: code }));
      return;
    }
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

let infra: Infra<{ redis: true; kafka: true }>;
try {
  infra = await startInfra({
    redis: true,
    kafka: true,
    signal: interrupted.signal,
    progress: (line) => console.error(`with-infra: ${line}`),
  });
} catch (err) {
  if (interrupted.signal.aborted) process.exit((interrupted.signal.reason as { exitCode: number }).exitCode);
  console.error(
    `with-infra: could not start the infrastructure: ${err instanceof Error ? err.message : err}`,
  );
  process.exit(1);
}
console.log(describe(infra));

const running = spawn(command, args, {
  stdio: 'inherit',
  env: { ...process.env, REDIS_URL: infra.redisUrl, KAFKA_BROKERS: infra.kafkaBrokers },
});
child = running;
let exitCode = await new Promise<number>((resolve) => {
  running.once('error', (err) => {
    console.error(`with-infra: could not run ${command}: ${err.message}`);
    resolve(127);
  });
  running.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 1)));
});
try {
  await infra.stop();
} catch (err) {
  console.error(
    `with-infra: stopping the infrastructure failed: ${err instanceof Error ? err.message : err}`,
  );
  exitCode ||= 1;
}
process.exit(exitCode);
