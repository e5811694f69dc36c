// `npm run jaeger`: a local Jaeger on the usual ports, the query API and UI on 127.0.0.1:16686 and
// OTLP/HTTP intake on 127.0.0.1:4318, with traces in memory, until Ctrl-C. The first run builds
// Jaeger from source (about a quarter of an hour, cached in .cache/go); later runs start at once.
// Ctrl-C at any point (also during the build) stops everything it started.
import { readFile } from 'node:fs/promises';
import { JAEGER_VERSION, startJaeger, type JaegerServer } from '@wxmesh/testing';

const QUERY_PORT = 16686;
const OTLP_HTTP_PORT = 4318;

const interrupted = new AbortController();
let jaeger: JaegerServer | undefined;
let stopping = false;

async function stop(code: number): Promise<never> {
  stopping = true;
  if (jaeger) {
    console.log('\nstopping Jaeger...');
    await jaeger.stop();
    console.log('Jaeger stopped.');
  }
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second Ctrl-C does not wait: exiting runs the harness's exit hook, which kills Jaeger.
    if (stopping || interrupted.signal.aborted) process.exit(130);
    if (!jaeger) {
      interrupted.abort(new Error(`interrupted by ${signal}`));
      return;
    }
    void stop(0);
  });
}

function showRunning(server: JaegerServer): void {
  console.log(`\nJaeger ${JAEGER_VERSION} is running (traces in memory, gone when it stops):`);
  console.log(
    `  query API and UI  ${server.queryUrl}   (a source build shows a placeholder page; the API works)`,
  );
  console.log(`  OTLP/HTTP intake  ${server.otlpEndpoint}    (POST /v1/traces)`);
  console.log(`  log               ${server.logFile}`);
  console.log('\nSend the mesh there and look a trace up:');
  console.log(`  OTEL_EXPORTER_OTLP_ENDPOINT=${server.otlpEndpoint} npm start`);
  console.log('  npm run trace -- <trace id>');
  console.log('\nCtrl-C stops Jaeger.');
}

try {
  jaeger = await startJaeger({
    queryPort: QUERY_PORT,
    otlpHttpPort: OTLP_HTTP_PORT,
    signal: interrupted.signal,
    progress: (line) => console.log(`[jaeger] ${line}`),
  });
} catch (err) {
  if (interrupted.signal.aborted) process.exit(130);
  console.error(`[jaeger] ${(err as Error).message}`);
  if (/address already in use/i.test((err as Error).message)) {
    console.error(
      `[jaeger] port ${QUERY_PORT} or ${OTLP_HTTP_PORT} is taken: is another Jaeger (or npm start -- --jaeger) ` +
        `running? \`ss -ltnp 'sport = :${QUERY_PORT}'\` shows who holds it.`,
    );
  }
  process.exit(1);
}
showRunning(jaeger);
// Jaeger's process is unref'd by the harness; this script lives exactly as long as it does.
jaeger.child.ref();
jaeger.child.once('exit', (code, signal) => {
  if (stopping) return;
  void (async () => {
    const log = await readFile(jaeger!.logFile, 'utf8').catch(() => '');
    console.error(`[jaeger] Jaeger exited unexpectedly (${code ?? signal}); its last lines:`);
    console.error(log.trimEnd().split('\n').slice(-20).join('\n'));
    await stop(1);
  })();
});
