// Test-only entry: payment-callback wired exactly as src/main.ts wires it, with its store wrapped so
// the process SIGKILLs itself at PAYMENT_TEST_CRASH_AT, to prove crash recovery:
//   after-redis  right after a notification's state change is written, before its event is sent;
//   after-kafka  right after Kafka acknowledged owed events, before they are settled and answered.
// test/support.ts starts it (startPayment's `crashAt`); production never loads this file.
import { loadConfigOrExit } from '@wxmesh/config';
import type { PaymentStore } from '../src/adapters/payment-store.js';
import { paymentConfigSchema } from '../src/config.js';
import { startPaymentCallback } from '../src/main.js';

/** Where the process kills itself. */
export type CrashPoint = 'after-redis' | 'after-kafka';

function crash(point: CrashPoint): never {
  process.stderr.write(`crash-entry: ${point} reached, SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL sent');
}

/** `store`, killing the process at `point` (a notification that changed nothing never gets there). */
function crashingStore(store: PaymentStore, point: CrashPoint): PaymentStore {
  if (point === 'after-redis') {
    const survives = (status: string) => status !== 'applied' && status !== 'duplicate';
    return {
      ...store,
      pay: async (...args) => {
        const result = await store.pay(...args);
        return survives(result.status) ? result : crash(point);
      },
      refund: async (...args) => {
        const result = await store.refund(...args);
        return survives(result.status) ? result : crash(point);
      },
    };
  }
  return { ...store, settle: async () => crash(point) };
}

const point = process.env.PAYMENT_TEST_CRASH_AT;
if (point !== 'after-redis' && point !== 'after-kafka')
  throw new Error(`PAYMENT_TEST_CRASH_AT must be after-redis or after-kafka, not ${point}`);
await startPaymentCallback(loadConfigOrExit(paymentConfigSchema), {
  store: (store) => crashingStore(store, point),
});
