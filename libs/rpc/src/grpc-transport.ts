import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescMethod, type Message } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { WeChatIdentity } from '@wxmesh/telemetry';
import { ANONYMOUS, callerIdentity, type Caller } from './caller.js';
import { endedAtDeadline } from './grpc-client-faults.js';
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

/**
 * Decodes wire bytes into a protobuf-es message of the given schema; throws on bytes that are not
 * one. For clients (a peer's garbage answer is the peer's fault, and grpc-js says so); servers
 * use {@link grpcRequestDeserializer}.
 */
export function grpcDeserializer(schema: DescMessage) {
  return (bytes: Buffer): Message => fromBinary(schema, bytes);
}

/**
 * A request whose bytes are not a message of the method's input type. The server's deserializer
 * returns it instead of throwing, because grpc-js answers a throwing deserializer with INTERNAL
 * ("Error deserializing request") — a bad client would page whoever watches Internal. The call is
 * then answered InvalidArgument with `reason` before the interceptor chain runs.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** The server side's deserializer: a message, or an {@link UndecodableRequest} saying why not. */
export function grpcRequestDeserializer(schema: DescMessage) {
  return (bytes: Buffer): Message | UndecodableRequest => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return new UndecodableRequest(`request is not a valid ${schema.typeName}: ${why}`);
    }
  };
}

/** The grpc-js service definition for a protobuf-es service descriptor. */
export function grpcServiceDefinition(registration: ServiceRegistration): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Message | UndecodableRequest, Message>> = {};
  for (const method of registration.desc.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: method.methodKind === 'server_streaming',
      // A server never serializes requests; grpc-js' type merely wants one of the request type.
      requestSerialize: grpcSerializer(method.input) as (request: Message | UndecodableRequest) => Buffer,
      requestDeserialize: grpcRequestDeserializer(method.input),
      responseSerialize: grpcSerializer(method.output),
      responseDeserialize: grpcDeserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition;
}

/**
 * The reason a call's signal fires with at its deadline. A ConnectError, not a DOMException:
 * whatever fails because of it (a wait, a peer call, a write) maps to DeadlineExceeded by its code,
 * with no comparison of clocks that round differently (grpc-js' timers run on the event loop's
 * cached time, `Date.now()` does not), which used to turn some expired calls into Internal.
 */
function deadlineExceeded(): ConnectError {
  return new ConnectError('deadline exceeded', Code.DeadlineExceeded);
}

type Request = Message | UndecodableRequest;
type UnaryCall = grpc.ServerUnaryCall<Request, Message>;
type StreamCall = grpc.ServerWritableStream<Request, Message>;
type ServerCall = UnaryCall | StreamCall;

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
      // grpc-js ends a call at its deadline with its own timer and then reports it 'cancelled', like
      // a client that left; only the latter is a cancellation.
      const cancelled = () =>
        controller.abort(
          endedAtDeadline(this.call)
            ? deadlineExceeded()
            : new DOMException('the call was cancelled', 'AbortError'),
        );
      if (this.call.cancelled) cancelled();
      else this.call.once('cancelled', cancelled);
      const stop = this.streamStop;
      if (stop !== undefined) {
        if (stop.aborted) controller.abort(stop.reason);
        else stop.addEventListener('abort', () => controller.abort(stop.reason), { once: true });
      }
      if (this.deadline !== undefined && !controller.signal.aborted) {
        const expire = () => controller.abort(deadlineExceeded());
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

/**
 * The status of a call that must not reach the handler: its request did not decode
 * (InvalidArgument, saying why) or its deadline had passed before it was served. grpc-js' own
 * deadline timer normally answers such a call first; this covers a timer that has not fired yet,
 * because nothing may start after the deadline.
 */
function refusal(call: ServerCall, ctx: GrpcCallContext): Partial<grpc.StatusObject> | undefined {
  if (call.request instanceof UndecodableRequest) {
    return { code: grpc.status.INVALID_ARGUMENT, details: call.request.reason };
  }
  if (ctx.deadline !== undefined && ctx.deadline <= Date.now()) {
    return { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline exceeded before the call was served' };
  }
  return undefined;
}

async function serveUnary(
  invoke: Next,
  method: DescMethod,
  call: UnaryCall,
  callback: grpc.sendUnaryData<Message>,
): Promise<void> {
  const ctx = new GrpcCallContext(method, call);
  const refused = refusal(call, ctx);
  if (refused !== undefined) {
    callback(refused);
    return;
  }
  let response: Message | undefined;
  try {
    response = await invoke({ method, request: call.request as Message, ctx, send: undefined });
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
  call: StreamCall,
  streamStop: AbortSignal,
): Promise<void> {
  const ctx = new GrpcCallContext(method, call, streamStop);
  const refused = refusal(call, ctx);
  if (refused !== undefined) {
    call.emit('error', refused);
    return;
  }
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
    await invoke({ method, request: call.request as Message, ctx, send });
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
        ? (call: UnaryCall, callback: grpc.sendUnaryData<Message>) =>
            void serveUnary(invoke, method, call, callback)
        : (call: StreamCall) => void serveServerStream(invoke, method, call, streamStop);
  }
  return implementation;
}
