// WeChat Pay notifications per CPU-second on payment-callback's webhook (signature verified over
// the raw body, resource decrypted, payment recorded in Redis, PaymentSucceeded acknowledged by
// Kafka, 204), against a bare node:http handler that only reads the body and answers 204, in the
// same run. Each server is its own process; its CPU time is read from /proc, so the load
// generator's cost is not counted. Needs REDIS_URL and KAFKA_BROKERS (npm run bench provides them).
//
//   node --import tsx services/payment-callback/bench/notify.ts
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { PaymentService } from '@wxmesh/contracts';
import { asPeer, freePort, startServiceProcess, type ServiceProcess } from '@wxmesh/testing';
import * as pay from '@wxmesh/wechat-pay';
import { writeDevPaymentSecrets } from '../scripts/dev-keys.js';

const NOTIFICATIONS = Number(process.env.BENCH_NOTIFICATIONS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const APPID = 'wx0123456789abcdef';

if (process.argv.includes('--bare')) {
  // The baseline server (forked below): read the body, answer 204, nothing else.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => res.writeHead(204).end());
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

async function main() {
  if (!process.env.REDIS_URL || !process.env.KAFKA_BROKERS) {
    console.error('payment bench: set REDIS_URL and KAFKA_BROKERS (npm run bench starts both)');
    process.exit(2);
  }

  /** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
  function cpuSeconds(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  }

  async function load(url: string, requests: Array<{ body: string; headers: Record<string, string> }>) {
    let next = 0;
    let failures = 0;
    const worker = async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        const res = await fetch(url, { method: 'POST', headers: r.headers, body: r.body });
        await res.arrayBuffer();
        if (res.status !== 204) failures++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return failures;
  }

  const dir = await mkdtemp(join(tmpdir(), 'wxmesh-pay-bench-'));
  const secrets = await writeDevPaymentSecrets(dir);
  const children: Array<ServiceProcess | ChildProcess> = [];
  try {
    const sandbox = await startServiceProcess('wechat-sandbox', {
      env: { ...secrets.sandbox, LOG_LEVEL: 'info' },
    });
    children.push(sandbox);
    const httpPort = await freePort();
    const notifyUrl = `http://127.0.0.1:${httpPort}/webhooks/wechatpay/notify`;
    const service = await startServiceProcess('payment-callback', {
      env: {
        ...secrets.paymentCallback,
        WECHATPAY_BASE_URL: sandbox.httpUrl,
        WECHATPAY_NOTIFY_URL: notifyUrl,
        HTTP_PORT: String(httpPort),
        LOG_LEVEL: 'info',
      },
      timeoutMs: 60_000,
    });
    children.push(service);

    // Orders to pay: placed through the RPC, outside the measurement, as the business backend
    // places them (CreateJsapiOrder is internal: grpc port, mesh peer business-backend).
    const backend = createClient(
      PaymentService,
      createGrpcTransport({
        baseUrl: `http://${service.grpcAddress}`,
        interceptors: [asPeer('business-backend')],
      }),
    );
    const run = randomBytes(3).toString('hex');
    const orders = Array.from({ length: NOTIFICATIONS }, (_, i) => ({
      otn: `B${run}${i}`,
      openid: `o_bench_${run}_${i}`,
    }));
    let placed = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (placed < orders.length) {
          const o = orders[placed++]!;
          await backend.createJsapiOrder({
            appid: APPID,
            openid: o.openid,
            outTradeNo: o.otn,
            amountTotal: 100,
            description: 'bench',
          });
        }
      }),
    );

    const notification = (o: { otn: string; openid: string }, i: number) => {
      const encrypted = pay.encryptResource(
        secrets.apiV3Key,
        JSON.stringify({
          appid: APPID,
          mchid: secrets.mchid,
          out_trade_no: o.otn,
          transaction_id: `42${run}${String(i).padStart(20, '0')}`,
          trade_type: 'JSAPI',
          trade_state: 'SUCCESS',
          success_time: '2024-01-01T10:00:00+08:00',
          payer: { openid: o.openid },
          amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
        }),
        { nonce: randomBytes(6).toString('hex'), associatedData: 'transaction' },
      );
      const body = JSON.stringify({
        id: `EV-${run}-${i}`,
        create_time: '2024-01-01T10:00:00+08:00',
        resource_type: 'encrypt-resource',
        event_type: 'TRANSACTION.SUCCESS',
        summary: '支付成功',
        resource: encrypted,
      });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const nonce = randomBytes(16).toString('hex');
      const headers = {
        'content-type': 'application/json',
        'wechatpay-serial': secrets.platformPublicKey.id,
        'wechatpay-timestamp': timestamp,
        'wechatpay-nonce': nonce,
        'wechatpay-signature': pay.rsaSign(
          secrets.platformPublicKey.privateKey,
          pay.responseSignatureMessage(timestamp, nonce, body),
        ),
      };
      return { body, headers };
    };
    const requests = orders.map(notification);

    // The bare baseline: node:http, read the body, answer 204.
    const bare = fork(fileURLToPath(import.meta.url), ['--bare'], { stdio: 'inherit' });
    children.push(bare);
    const barePortReady = new Promise<number>((resolve) =>
      bare.once('message', (m) => resolve((m as { port: number }).port)),
    );

    const webhookBefore = cpuSeconds(service.child.pid!);
    const t0 = Date.now();
    const failures = await load(notifyUrl, requests);
    const webhookWall = (Date.now() - t0) / 1000;
    const webhookCpu = cpuSeconds(service.child.pid!) - webhookBefore;
    if (failures > 0) throw new Error(`${failures} notifications were not answered 204`);

    const barePort = await barePortReady;
    const bareUrl = `http://127.0.0.1:${barePort}/webhooks/wechatpay/notify`;
    await load(bareUrl, requests.slice(0, 200));
    const bareBefore = cpuSeconds(bare.pid!);
    const t1 = Date.now();
    await load(bareUrl, requests);
    const bareWall = (Date.now() - t1) / 1000;
    const bareCpu = cpuSeconds(bare.pid!) - bareBefore;

    const perCpu = (n: number, cpu: number) => (cpu > 0 ? n / cpu : Number.POSITIVE_INFINITY);
    const webhookRate = perCpu(requests.length, webhookCpu);
    const bareRate = perCpu(requests.length, bareCpu);
    console.log(`payment notifications: ${requests.length}, concurrency ${CONCURRENCY}`);
    console.log(
      `  webhook (verify + decrypt + Redis + Kafka ack): ${webhookRate.toFixed(0)} notifications/CPU-s ` +
        `(${webhookCpu.toFixed(2)} CPU-s, ${(requests.length / webhookWall).toFixed(0)}/s wall)`,
    );
    console.log(
      `  bare node:http (read body, 204):               ${bareRate.toFixed(0)} requests/CPU-s ` +
        `(${bareCpu.toFixed(2)} CPU-s, ${(requests.length / bareWall).toFixed(0)}/s wall)`,
    );
    console.log(`  ratio bare/webhook: ${(bareRate / webhookRate).toFixed(1)}x CPU per notification`);
  } finally {
    for (const c of children) ('child' in c ? c.child : c).kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}
