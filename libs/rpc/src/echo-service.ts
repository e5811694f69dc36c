import { Code, ConnectError } from '@connectrpc/connect';
import { EchoService } from '@wxmesh/contracts';
import type { RpcContext } from './context.js';
import { codeName } from './errors.js';
import { defineService } from './service.js';

function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (ms === 0) return Promise.resolve();
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function failIfAsked(failCode: string): void {
  if (failCode === '') return;
  const code = Object.values(Code).find(
    (value) => typeof value === 'number' && codeName(value) === failCode,
  ) as Code | undefined;
  if (code === undefined)
    throw new ConnectError(`fail_code: unknown code "${failCode}"`, Code.InvalidArgument);
  if (code === Code.Internal) throw new Error('echo: deliberate unexpected failure');
  throw new ConnectError(`echo: failing with ${failCode} as asked`, code);
}

function reply(message: string, ctx: RpcContext) {
  return { message, wechat: { ...ctx.wechat } };
}

/**
 * The kit's self-test service (`wxmesh.echo.v1.EchoService`): every service mounts it, so the
 * interop tests, the kit benchmark and an operator with grpcurl can check a replica's transport,
 * context propagation, deadlines and error mapping without touching its domain.
 * `fail_code: "internal"` throws a plain Error, to show an unexpected exception stays opaque.
 */
export const echoService = defineService(EchoService, {
  async echo(request, ctx) {
    failIfAsked(request.failCode);
    if (request.delayMs > 0) await wait(request.delayMs, ctx.signal);
    return reply(request.message, ctx);
  },
  async *echoStream(request, ctx) {
    failIfAsked(request.failCode);
    for (let i = 0; i < Math.max(1, request.repeat); i++) {
      if (request.delayMs > 0) await wait(request.delayMs, ctx.signal);
      yield reply(`${request.message}#${i}`, ctx);
    }
  },
});
