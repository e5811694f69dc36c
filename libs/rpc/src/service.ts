import type {
  DescMessage,
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from '@bufbuild/protobuf';
import type { RpcContext } from './context.js';

/** A unary handler: written once, served on both ports. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: RpcContext,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

/** A server-streaming handler: each yielded value is written to the caller with backpressure. */
export type ServerStreamHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: RpcContext,
) => AsyncIterable<MessageInitShape<O>>;

/**
 * The handlers of one generated service descriptor, keyed by the method's local name
 * (`getSession`). Methods left out answer Unimplemented on both transports.
 */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S['method']]?: S['method'][K] extends DescMethodUnary<infer I, infer O>
    ? UnaryHandler<I, O>
    : S['method'][K] extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamHandler<I, O>
      : never;
};

/** A service descriptor bound to its handlers, ready to be mounted by the server. */
export interface ServiceRegistration {
  readonly desc: DescService;
  readonly handlers: Readonly<Record<string, AnyHandler | undefined>>;
}

// The registration erases message types: the kit only moves messages of the descriptor's own
// schemas between the wire and the typed handler, so nothing can be mixed up at run time.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyHandler = (request: any, ctx: RpcContext) => any;

/**
 * Binds handlers to a generated service descriptor (connect-es `router.service` style).
 *
 * Client- and bidi-streaming methods are rejected here rather than at the first call: the mesh's
 * contracts do not use them, and a silent Unimplemented would surface only in production.
 */
export function defineService<S extends DescService>(
  desc: S,
  handlers: ServiceHandlers<S>,
): ServiceRegistration {
  for (const method of desc.methods) {
    if (method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming') {
      throw new Error(
        `${desc.typeName}.${method.name}: ${method.methodKind} methods are not supported by the kit`,
      );
    }
  }
  return { desc, handlers: handlers as Record<string, AnyHandler | undefined> };
}

/** The gRPC path of a method, `/package.Service/Method`, shared by both transports. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
