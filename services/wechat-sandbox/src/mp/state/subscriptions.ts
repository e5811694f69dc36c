const key = (...parts: string[]) => parts.join('\0');

/** The templates an app has added: template_id → its keyword keys (`thing1`, `amount2`, ...). */
export function createTemplates() {
  let templates = new Map<string, readonly string[]>();
  return {
    set(appid: string, templateId: string, keywords: readonly string[]): void {
      templates.set(key(appid, templateId), [...keywords]);
    },
    /** The template's keyword keys, or undefined when the app has no such template. */
    keywords: (appid: string, templateId: string) => templates.get(key(appid, templateId)),
    has: (appid: string, templateId: string) => templates.has(key(appid, templateId)),
    reset(): void {
      templates = new Map();
    },
  };
}

/** A user's answer for one template, as the sandbox keeps it. */
export interface Subscription {
  readonly appid: string;
  readonly openid: string;
  readonly template_id: string;
  /** The user's latest answer in the popup (or the settings page). */
  status: 'accept' | 'reject';
  /** A long-term subscription accepted: every send goes through until rejected. */
  longTerm: boolean;
  /** One-time grants left: each accepted popup adds one (or `count`), each send uses one. */
  oneTimeGrants: number;
}

/** What one popup answer (or a test's fixture) changes. */
export interface SubscriptionChange {
  readonly kind: 'one-time' | 'long-term';
  readonly status: 'accept' | 'reject';
  /** One-time grants an accept adds. */
  readonly count: number;
}

/**
 * Per-user, per-template subscription state: long-term acceptance and one-time grants. A reject
 * clears both, as the user turning the template off in their settings does.
 */
export function createSubscriptions() {
  let subscriptions = new Map<string, Subscription>();
  return {
    /** Applies an answer; returns the resulting state (a copy). */
    apply(appid: string, openid: string, templateId: string, change: SubscriptionChange): Subscription {
      const k = key(appid, openid, templateId);
      let s = subscriptions.get(k);
      if (s === undefined) {
        s = {
          appid,
          openid,
          template_id: templateId,
          status: change.status,
          longTerm: false,
          oneTimeGrants: 0,
        };
        subscriptions.set(k, s);
      }
      s.status = change.status;
      if (change.status === 'reject') {
        s.longTerm = false;
        s.oneTimeGrants = 0;
      } else if (change.kind === 'long-term') {
        s.longTerm = true;
      } else {
        s.oneTimeGrants += change.count;
      }
      return { ...s };
    },
    /**
     * Whether a send to the user may go out, using one one-time grant when it is not a long-term
     * subscription. False (43101) when never subscribed, rejected or the grants are used up.
     */
    consume(appid: string, openid: string, templateId: string): boolean {
      const s = subscriptions.get(key(appid, openid, templateId));
      if (s === undefined || s.status !== 'accept') return false;
      if (s.longTerm) return true;
      if (s.oneTimeGrants <= 0) return false;
      s.oneTimeGrants--;
      return true;
    },
    reset(): void {
      subscriptions = new Map();
    },
  };
}

/** One step of a user's scripted send faults; `{}` lets the send through untouched. */
export interface SendFault {
  /** Answer HTTP 200 with this errcode. */
  readonly errcode?: number;
  /** Answer with this HTTP status and an empty body. */
  readonly status?: number;
  /** Never answer. */
  readonly hang?: boolean;
  /** Wait this long first (then the other fields, or the normal send when there are none). */
  readonly delayMs?: number;
}

/**
 * Per-user fault scripts for the send API: each send to the user takes the script's next step, so
 * a test can give every user its own failure pattern. A script runs once, or forever with `repeat`.
 */
export function createFaultScripts() {
  let scripts = new Map<string, { steps: readonly SendFault[]; next: number; repeat: boolean }>();
  return {
    /** Replaces the user's script. */
    set(appid: string, openid: string, steps: readonly SendFault[], repeat: boolean): void {
      scripts.set(key(appid, openid), { steps: [...steps], next: 0, repeat });
    },
    /** The step for this send to the user, or undefined when the user has no script left. */
    take(appid: string, openid: string): SendFault | undefined {
      const k = key(appid, openid);
      const script = scripts.get(k);
      if (script === undefined) return undefined;
      const step = script.steps[script.next++];
      if (script.next >= script.steps.length) {
        if (script.repeat) script.next = 0;
        else scripts.delete(k);
      }
      return step;
    },
    reset(): void {
      scripts = new Map();
    },
  };
}
