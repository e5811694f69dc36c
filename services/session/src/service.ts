import { SessionService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';

/**
 * The session handlers, bound to the generated `SessionService` descriptor and mounted by the kit on
 * both ports. Methods not written yet answer Unimplemented with the method's name.
 */
export function createSessionService() {
  return defineService(SessionService, {});
}
