import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescMethod, type Message } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import type { WeChatIdentity } from '@wxmesh/telemetry';
import { ANONYMOUS, callerIdentity, type Caller } from './caller.js';
import type { RpcContext } from './context.js';
import type { Next } from './pipeline.js';
import { methodPath, type ServiceRegistration } from './service.js';

/** protobuf-es codec in the shape grpc-js expects; the Buffer wraps the encoded bytes without copying. */
export function grpcSerializer(schema: DescMessage) {
  return (message: Message): Buffer => {
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Decodes wire bytes into a protobuf-es message of the given schema. */
export function grpcDeserializer(schema: DescMessage) {
  return (bytes: Buffer): Message => fromBinary(schema, bytes);
}

/** The grpc-js service definition for a protobuf-es service descriptor. */
export function grpcServiceDefinition(registration: ServiceRegistration): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Message, Message>> = {};
  for (const method of registration.desc.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: method.methodKind === 'server_streaming',
      requestSerialize: grpcSerializer(method.input),
      requestDeserialize: grpcDeserializer(method.input),
      responseSerialize: grpcSerializer(method.output),
      responseDeserialize: grpcDeserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition;
}

type ServerCall = grpc.ServerUnaryCall<Message, Message> | grpc.ServerWritableStream<Message, Message>;

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof ConnectError) return { code: err.code as number, details: err.rawMessage };
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}

/**
 * The RpcContext of a grpc-js call. A class rather than a literal with closures: it is built for
 * every call, and prototype methods cost nothing per call. The AbortSignal (controller, deadline
 * timer, cancellation listener) is made only when a handler first asks for it.
 */
class GrpcCallContext implements RpcContext {
  readonly protocol = 'grpc' as const;
  readonly service: string;
  readonly method: string;
  caller: Caller = ANONYMOUS;
  readonly deadline: number | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    method: DescMethod,
    private readonly call: ServerCall,
    /** For streams: the server's "ending streams" signal, so a drain can end them with a status. */
    private readonly streamStop?: AbortSignal,
  ) {
    this.service = method.parent.typeName;
    this.method = method.name;
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    this.deadline = Number.isFinite(ms) ? ms : undefined;
  }

  get wechat(): WeChatIdentity {
    return callerIdentity(this.caller);
  }

  header(name: string): string | undefined {
    const value = this.call.metadata.get(name)[0];
    return typeof value === 'string' ? value : undefined;
  }

  abort(reason: Error): void {
    this.controllerFor().abort(reason);
  }

  get signal(): AbortSignal {
    return this.controllerFor().signal;
  }

  private controllerFor(): AbortController {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const cancelled = () => controller.abort(new DOMException('the call was cancelled', 'AbortError'));
      if (this.call.cancelled) cancelled();
      else this.call.once('cancelled', cancelled);
      const stop = this.streamStop;
      if (stop !== undefined) {
        if (stop.aborted) controller.abort(stop.reason);
        else stop.addEventListener('abort', () => controller.abort(stop.reason), { once: true });
      }
      if (this.deadline !== undefined && !controller.signal.aborted) {
        const expire = () => controller.abort(new DOMException('deadline exceeded', 'TimeoutError'));
        const remaining = this.deadline - Date.now();
        if (remaining <= 0) expire();
        else {
          this.timer = setTimeout(expire, remaining);
          this.timer.unref();
        }
      }
    }
    return this.controller;
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

async function serveUnary(
  invoke: Next,
  method: DescMethod,
  call: grpc.ServerUnaryCall<Message, Message>,
  callback: grpc.sendUnaryData<Message>,
): Promise<void> {
  const ctx = new GrpcCallContext(method, call);
  let response: Message | undefined;
  try {
    response = await invoke({ method, request: call.request, ctx, send: undefined });
  } catch (err) {
    ctx.dispose();
    callback(toStatus(err));
    return;
  }
  ctx.dispose();
  callback(null, response);
}

async function serveServerStream(
  invoke: Next,
  method: DescMethod,
  call: grpc.ServerWritableStream<Message, Message>,
  streamStop: AbortSignal,
): Promise<void> {
  const ctx = new GrpcCallContext(method, call, streamStop);
  const send = (message: Message): Promise<void> => {
    if (call.cancelled) return Promise.reject(new DOMException('the call was cancelled', 'AbortError'));
    if (call.write(message)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        call.off('cancelled', onCancel);
        resolve();
      };
      const onCancel = () => {
        call.off('drain', onDrain);
        reject(new DOMException('the call was cancelled', 'AbortError'));
      };
      call.once('drain', onDrain);
      call.once('cancelled', onCancel);
    });
  };
  try {
    await invoke({ method, request: call.request, ctx, send });
    call.end();
  } catch (err) {
    if (!call.cancelled) call.emit('error', toStatus(err));
  } finally {
    ctx.dispose();
  }
}

/** grpc-js handlers that run each call through the kit's invoker for its method. */
export function grpcHandlers(
  registration: ServiceRegistration,
  invokers: Map<DescMethod, Next>,
  streamStop: AbortSignal,
): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of registration.desc.methods) {
    const invoke = invokers.get(method)!;
    implementation[method.localName] =
      method.methodKind === 'unary'
        ? (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) =>
            void serveUnary(invoke, method, call, callback)
        : (call: grpc.ServerWritableStream<Message, Message>) =>
            void serveServerStream(invoke, method, call, streamStop);
  }
  return implementation;
}
