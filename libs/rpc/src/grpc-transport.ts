import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescMethod, type Message } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { wechatFromHeaders } from '@wxmesh/telemetry';
import { createLazySignal } from './call-signal.js';
import type { RpcContext } from './context.js';
import type { Next } from './pipeline.js';
import type { ServiceRegistration } from './service.js';

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
      path: `/${registration.desc.typeName}/${method.name}`,
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

function grpcContext(method: DescMethod, call: ServerCall) {
  const rawDeadline = call.getDeadline();
  const deadlineMs = rawDeadline instanceof Date ? rawDeadline.getTime() : rawDeadline;
  const deadline = Number.isFinite(deadlineMs) ? deadlineMs : undefined;
  const metadata = call.metadata;
  const header = (name: string): string | undefined => {
    const value = metadata.get(name)[0];
    return typeof value === 'string' ? value : undefined;
  };
  const lazy = createLazySignal(deadline, (abort) => call.once('cancelled', abort));
  const ctx: RpcContext = {
    service: method.parent.typeName,
    method: method.name,
    protocol: 'grpc',
    wechat: wechatFromHeaders(header),
    deadline,
    get signal() {
      return lazy.signal;
    },
    header,
  };
  return { ctx, dispose: lazy.dispose };
}

/** grpc-js handlers that run each call through the kit's invoker for its method. */
export function grpcHandlers(
  registration: ServiceRegistration,
  invokers: Map<DescMethod, Next>,
): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of registration.desc.methods) {
    const invoke = invokers.get(method)!;
    if (method.methodKind === 'unary') {
      implementation[method.localName] = (
        call: grpc.ServerUnaryCall<Message, Message>,
        callback: grpc.sendUnaryData<Message>,
      ) => {
        const { ctx, dispose } = grpcContext(method, call);
        invoke({ method, request: call.request, ctx, send: undefined }).then(
          (response) => {
            dispose();
            callback(null, response);
          },
          (err: unknown) => {
            dispose();
            callback(toStatus(err));
          },
        );
      };
    } else {
      implementation[method.localName] = (call: grpc.ServerWritableStream<Message, Message>) => {
        const { ctx, dispose } = grpcContext(method, call);
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
        invoke({ method, request: call.request, ctx, send }).then(
          () => {
            dispose();
            call.end();
          },
          (err: unknown) => {
            dispose();
            if (!call.cancelled) call.emit('error', toStatus(err));
          },
        );
      };
    }
  }
  return implementation;
}
