import { WxError } from './errors.js';
import { keywordProblem, keywordType } from './keyword-rules.js';

const MINIPROGRAM_STATES = ['developer', 'trial', 'formal'];
const LANGS = ['zh_CN', 'en_US', 'zh_HK', 'zh_TW'];

/** A 47003 refusal naming the culprit (`argument invalid! data.thing1.value invalid`). */
export function invalid(detail: string): WxError {
  return new WxError(47003, `argument invalid! ${detail}`);
}

/**
 * The message's data checked against the template's keywords and their types' rules (47003): every
 * keyword present and valid, none other.
 */
export function checkData(keywords: readonly string[], data: unknown): Record<string, { value: string }> {
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw invalid('data invalid');
  }
  const entries = (data ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(entries)) {
    if (!keywords.includes(name)) throw invalid(`data.${name} not in template`);
  }
  const checked: Record<string, { value: string }> = {};
  for (const name of keywords) {
    const entry = entries[name] as { value?: unknown } | undefined;
    const value = typeof entry === 'object' && entry !== null ? entry.value : undefined;
    if (value === undefined || value === '') throw invalid(`data.${name}.value is empty`);
    const problem = typeof value === 'string' ? keywordProblem(keywordType(name)!, value) : 'invalid';
    if (problem !== undefined) throw invalid(`data.${name}.value ${problem}`);
    checked[name] = { value: value as string };
  }
  return checked;
}

/** The message's options as WeChat checks them (47003): miniprogram_state, lang, page. */
export function checkOptions(body: Record<string, unknown>) {
  const { page } = body;
  const miniprogram_state = body.miniprogram_state ?? 'formal';
  if (typeof miniprogram_state !== 'string' || !MINIPROGRAM_STATES.includes(miniprogram_state)) {
    throw invalid('miniprogram_state invalid');
  }
  const lang = body.lang ?? 'zh_CN';
  if (typeof lang !== 'string' || !LANGS.includes(lang)) throw invalid('lang invalid');
  if (page !== undefined && typeof page !== 'string') throw invalid('page invalid');
  return { ...(page === undefined ? {} : { page }), miniprogram_state, lang };
}
