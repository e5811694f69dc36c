import { BehaviourViewService } from '@wxmesh/contracts';
import { defineService } from '@wxmesh/rpc';

/**
 * The behaviour-projector handlers, bound to the generated `BehaviourViewService` descriptor and mounted by the kit on
 * both ports. Methods not written yet answer Unimplemented with the method's name.
 */
export function createBehaviourViewService() {
  return defineService(BehaviourViewService, {});
}
