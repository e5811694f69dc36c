import { Counter, Gauge, register, type Registry } from 'prom-client';
import type { DeliveryStore } from './adapters/delivery-store.js';

/**
 * The send queue's metrics: sends by outcome and WeChat errcode, and — read from Redis when
 * scraped, so every replica reports the shared queue — the jobs waiting, delayed and
 * dead-lettered, and the age of the oldest waiting job (the number to alert on: it grows when
 * sending cannot keep up or has stopped).
 */
export function createRouterMetrics(store: DeliveryStore, now: () => number, registry: Registry = register) {
  const sends = new Counter({
    name: 'wxmesh_router_sends_total',
    help: 'Subscribe-message send attempts by outcome (delivered, retry, failed, dead-letter, ambiguous, refused-by-subscription) and WeChat errcode (0: none).',
    labelNames: ['outcome', 'errcode'],
    registers: [registry],
  });
  // Both gauges are collected concurrently on a scrape: they share one read of Redis.
  let pending: ReturnType<DeliveryStore['depth']> | undefined;
  let readAt = 0;
  const read = () => {
    if (pending === undefined || now() - readAt > 500) {
      readAt = now();
      pending = store.depth(readAt).catch(() => undefined as never);
    }
    return pending;
  };
  new Gauge({
    name: 'wxmesh_router_queue_depth',
    help: 'Send-queue jobs by kind: queued (waiting or in flight), delayed (retry scheduled), dead_letters.',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const depth = await read();
      if (!depth) return;
      this.set({ kind: 'queued' }, depth.queued);
      this.set({ kind: 'delayed' }, depth.delayed);
      this.set({ kind: 'dead_letters' }, depth.deadLetters);
    },
  });
  new Gauge({
    name: 'wxmesh_router_queue_oldest_age_seconds',
    help: 'Age of the oldest job waiting or in flight in the send queue (0 when empty).',
    registers: [registry],
    async collect() {
      const depth = await read();
      if (depth) this.set(depth.oldestAgeMs / 1000);
    },
  });
  return {
    send(outcome: string, errcode: number): void {
      sends.inc({ outcome, errcode: String(errcode) });
    },
  };
}
