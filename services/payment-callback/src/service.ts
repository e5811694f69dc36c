import { PaymentService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';

/**
 * The payment-callback handlers, bound to the generated `PaymentService` descriptor and mounted by the kit on
 * both ports. Methods not written yet answer Unimplemented with the method's name.
 */
export function createPaymentService() {
  return defineService(PaymentService, {});
}
