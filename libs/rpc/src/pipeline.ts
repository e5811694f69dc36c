import { create, isMessage, type DescMessage, type DescMethod, type Message } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { RpcContext } from './context.js';
import type { AnyHandler, ServiceRegistration } from './service.js';

/** One call travelling through the interceptor chain, the same shape on both transports. */
export interface Invocation {
  readonly method: DescMethod;
  readonly request: Message;
  readonly ctx: RpcContext;
  /** Writes one response of a server stream to the wire; resolves when the transport can take more. */
  readonly send: ((message: Message) => Promise<void>) | undefined;
}

/** Runs the rest of the chain. Resolves to the response of a unary call, undefined for a finished stream. */
export type Next = (invocation: Invocation) => Promise<Message | undefined>;

/**
 * A step of the server chain (WeChat context, tracing, validation, ...). Interceptors are composed
 * once per method at start-up, so a call pays only for the closures, never for building the chain.
 */
export type Interceptor = (next: Next) => Next;

const EXPIRED_BEFORE_HANDLER = new ConnectError(
  'deadline exceeded before the handler started',
  Code.DeadlineExceeded,
);

function toMessage(schema: DescMessage, value: unknown): Message {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

function terminal(method: DescMethod, handler: AnyHandler | undefined): Next {
  if (handler === undefined) {
    const error = new ConnectError(
      `${method.parent.typeName}.${method.name} is not implemented`,
      Code.Unimplemented,
    );
    return () => Promise.reject(error);
  }
  if (method.methodKind === 'unary') {
    return async (inv) => {
      // Checked again here, after access and validation: on a busy machine those can outlast a
      // short deadline, and a handler must not start work nobody waits for.
      const { deadline } = inv.ctx;
      if (deadline !== undefined && deadline <= Date.now()) throw EXPIRED_BEFORE_HANDLER;
      return toMessage(method.output, await handler(inv.request, inv.ctx));
    };
  }
  return async (inv) => {
    const send = inv.send;
    if (send === undefined) throw new Error(`${method.name}: a server stream needs a send function`);
    // A write waiting on a client that does not read must still end when the call is aborted
    // (ctx.abort, a drain, the deadline): race each write against the signal.
    const { signal } = inv.ctx;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as unknown);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      for await (const value of handler(inv.request, inv.ctx) as AsyncIterable<unknown>) {
        await Promise.race([send(toMessage(method.output, value)), aborted]);
      }
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
    return undefined;
  };
}

/**
 * Composes the interceptors (outermost first) around every handler of every registered service.
 * Both transports call the returned invokers, which is what makes the chain identical on both ports.
 */
export function buildInvokers(
  services: readonly ServiceRegistration[],
  interceptors: readonly Interceptor[],
): Map<DescMethod, Next> {
  const invokers = new Map<DescMethod, Next>();
  for (const { desc, handlers } of services) {
    for (const method of desc.methods) {
      let next = terminal(method, handlers[method.localName]);
      for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next);
      invokers.set(method, next);
    }
  }
  return invokers;
}
