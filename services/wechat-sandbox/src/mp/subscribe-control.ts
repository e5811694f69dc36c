import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { controlHandler, fail, fields, registeredAppOf } from './control-request.js';
import { keywordType, KEYWORD_TYPES } from './domain/keyword-rules.js';
import { popupEventMessage, type PushResult } from './adapters/push-sender.js';
import type { MpStore } from './store.js';
import { SEND_API, type SubscribeMessages } from './subscribe.js';
import type { SendFault } from './state/subscriptions.js';

/** What the subscription fixtures need: the store, the subscribe state, and the push sender. */
export interface SubscribeControlDeps {
  readonly store: MpStore;
  readonly state: SubscribeMessages;
  readonly push: {
    config(appid: string): { format: 'xml' | 'json' } | undefined;
    push(appid: string, message: Record<string, unknown>): Promise<PushResult>;
  };
}

/** APIs a rate limit can be set on. */
const RATE_LIMITED_APIS = [SEND_API];

function templates({ store, state }: SubscribeControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const keywords = f.body.keywords;
  const valid =
    Array.isArray(keywords) &&
    keywords.length > 0 &&
    keywords.every((k) => typeof k === 'string' && keywordType(k) !== undefined) &&
    new Set(keywords).size === keywords.length;
  if (!valid) fail(`keywords: distinct keys <type><n> with type one of ${KEYWORD_TYPES.join(', ')}`);
  const appid = registeredAppOf(store, f.str('appid'));
  const templateId = f.str('template_id');
  state.templates.set(appid, templateId, keywords as string[]);
  return { body: { appid, template_id: templateId, keywords } };
}

async function subscriptions(deps: SubscribeControlDeps, req: SandboxRequest): Promise<SandboxResponse> {
  const { store, state } = deps;
  const f = fields(req);
  const appid = registeredAppOf(store, f.str('appid'));
  const openid = f.str('openid');
  const templateId = f.str('template_id');
  if (!state.templates.has(appid, templateId)) {
    fail(`template_id: ${templateId} is not a template of ${appid}; POST /sandbox/mp/templates first`);
  }
  const kind = f.oneOf('kind', ['one-time', 'long-term'] as const);
  const status = f.oneOf('status', ['accept', 'reject'] as const, 'accept');
  const count = f.optInt('count', 1) ?? 1;
  const push = f.optBool('push') ?? false;
  const format = deps.push.config(appid)?.format;
  if (push && format === undefined) {
    return {
      status: 409,
      body: { error: `push: ${appid} has no push config; POST /sandbox/mp/push-config` },
    };
  }
  store.registerUser(appid, openid);
  const subscription = state.subscriptions.apply(appid, openid, templateId, { kind, status, count });
  if (!push) return { body: { subscription } };
  const message = popupEventMessage(format!, { openid, templateId, status });
  return { body: { subscription, push: await deps.push.push(appid, message) } };
}

/** One script step: exactly the fields of a {@link SendFault}, typed. */
function faultStep(step: unknown, i: number): SendFault {
  const at = `faults[${i}]`;
  if (typeof step !== 'object' || step === null || Array.isArray(step)) fail(`${at}: an object is required`);
  const s = step as Record<string, unknown>;
  const known = ['errcode', 'status', 'hang', 'delayMs'];
  const unknown = Object.keys(s).find((k) => !known.includes(k));
  if (unknown !== undefined) fail(`${at}.${unknown}: one of ${known.join(', ')} is expected`);
  if (s.errcode !== undefined && !Number.isSafeInteger(s.errcode)) fail(`${at}.errcode: an integer`);
  const status = s.status as number | undefined;
  if (status !== undefined && !(Number.isSafeInteger(status) && status >= 100 && status <= 599)) {
    fail(`${at}.status: an HTTP status 100..599`);
  }
  if (s.hang !== undefined && s.hang !== true) fail(`${at}.hang: true`);
  const delay = s.delayMs as number | undefined;
  if (delay !== undefined && !(Number.isSafeInteger(delay) && delay >= 0))
    fail(`${at}.delayMs: an integer >= 0`);
  return s as SendFault;
}

function faultScript({ store, state }: SubscribeControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const appid = registeredAppOf(store, f.str('appid'));
  const openid = f.str('openid');
  const steps = f.body.faults;
  if (!Array.isArray(steps) || steps.length === 0) fail('faults: a non-empty array of steps is required');
  state.faults.set(appid, openid, steps.map(faultStep), f.optBool('repeat') ?? false);
  return { status: 204 };
}

function rateLimits({ store, state }: SubscribeControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const appid = registeredAppOf(store, f.str('appid'));
  const api = f.oneOf('api', RATE_LIMITED_APIS);
  const perSecond = f.body.perSecond;
  if (perSecond === null) {
    state.rateLimits.set(appid, api, undefined);
    return { status: 204 };
  }
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    fail('perSecond: a number > 0, or null to remove the limit');
  }
  const burst = f.optInt('burst', 1) ?? Math.max(1, Math.ceil(perSecond));
  state.rateLimits.set(appid, api, { perSecond, burst });
  return { status: 204 };
}

/** The query parameter, or a 400 naming it. */
function queryParam(req: SandboxRequest, name: string): string {
  return req.query.get(name) || fail(`${name}: a query parameter is required`);
}

/**
 * The control API of the subscribe-message side (JSON under `/sandbox/mp/`): templates, user
 * subscriptions (optionally pushing the popup event), per-user send fault scripts, rate limits,
 * and what was sent. Documented in the service README.
 */
export function createSubscribeControlEndpoints(deps: SubscribeControlDeps): Endpoint[] {
  const { state } = deps;
  const route = (
    method: Endpoint['method'],
    path: string,
    run: (d: SubscribeControlDeps, req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>,
  ): Endpoint => ({ method, path, handler: controlHandler((req) => run(deps, req)) });
  return [
    route('POST', '/sandbox/mp/templates', templates),
    route('POST', '/sandbox/mp/subscriptions', subscriptions),
    route('POST', '/sandbox/mp/subscribe-send/faults', faultScript),
    route('DELETE', '/sandbox/mp/subscribe-send/faults', () => {
      state.faults.reset();
      return { status: 204 };
    }),
    route('POST', '/sandbox/mp/rate-limits', rateLimits),
    route('GET', '/sandbox/mp/subscribe-messages', (_, req) => ({
      body: state.log.messages(queryParam(req, 'appid'), req.query.get('openid') || undefined),
    })),
    route('GET', '/sandbox/mp/subscribe-stats', (_, req) => ({
      body: state.log.stats(queryParam(req, 'appid')),
    })),
  ];
}
