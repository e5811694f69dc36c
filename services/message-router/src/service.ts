import { MessageRouterService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';

/**
 * The message-router handlers, bound to the generated `MessageRouterService` descriptor and mounted by the kit on
 * both ports. Methods not written yet answer Unimplemented with the method's name.
 */
export function createMessageRouterService() {
  return defineService(MessageRouterService, {});
}
