import { AuthVerifyService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';

/**
 * The auth-verify handlers, bound to the generated `AuthVerifyService` descriptor and mounted by the kit on
 * both ports. Methods not written yet answer Unimplemented with the method's name.
 */
export function createAuthVerifyService() {
  return defineService(AuthVerifyService, {});
}
