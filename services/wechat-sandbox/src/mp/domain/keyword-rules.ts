/**
 * The keyword types of subscribe-message templates, each with the value rule WeChat documents for
 * `subscribeMessage.send` (a template's keys are `<type><n>`, e.g. `thing1`, `amount2`).
 */
export const KEYWORD_TYPES = [
  'thing',
  'number',
  'letter',
  'symbol',
  'character_string',
  'time',
  'date',
  'amount',
  'phone_number',
  'car_number',
  'name',
  'phrase',
] as const;

/** One of {@link KEYWORD_TYPES}. */
export type KeywordType = (typeof KEYWORD_TYPES)[number];

// Longest names first so `character_string3` is not read as `character` + junk.
const KEY = new RegExp(`^(${[...KEYWORD_TYPES].sort((a, b) => b.length - a.length).join('|')})(\\d+)$`);

/** The type of a template key such as `thing1`; undefined when the key is not `<type><n>`. */
export function keywordType(key: string): KeywordType | undefined {
  return KEY.exec(key)?.[1] as KeywordType | undefined;
}

const HAN = /\p{Script=Han}/u;
const SYMBOLS = /^[\p{P}\p{S}]+$/u;

/** `YYYY年M月D日`, `YYYY-MM-DD` or `YYYY/MM/DD`. */
const DATE = /(\d{4})(?:年(\d{1,2})月(\d{1,2})日|[-/](\d{1,2})[-/](\d{1,2}))/.source;
/** 24-hour `HH:mm` or `HH:mm:ss`. */
const TIME = /(\d{1,2}):(\d{2})(?::(\d{2}))?/.source;
const TIME_POINT = new RegExp(`^(?:${DATE}\\s*)?${TIME}$`);
const DATE_POINT = new RegExp(`^${DATE}(?:\\s*${TIME})?$`);

function inRange(value: string | undefined, min: number, max: number): boolean {
  return value === undefined || (Number(value) >= min && Number(value) <= max);
}

/** A date and/or time point matched by TIME_POINT or DATE_POINT with plausible fields. */
function pointValid(pattern: RegExp, text: string): boolean {
  const m = pattern.exec(text.trim());
  if (m === null) return false;
  const [, , month1, day1, month2, day2, hour, minute, second] = m;
  return (
    inRange(month1 ?? month2, 1, 12) &&
    inRange(day1 ?? day2, 1, 31) &&
    inRange(hour, 0, 23) &&
    inRange(minute, 0, 59) &&
    inRange(second, 0, 59)
  );
}

/** One point, or a period of two joined by `~`, as `time` and `date` allow. */
function periodValid(pattern: RegExp, value: string): boolean {
  const parts = value.split('~');
  return parts.length <= 2 && parts.every((part) => pointValid(pattern, part));
}

/** A name: up to 10 characters when it holds Chinese, else up to 20 letters or symbols. */
function nameValid(value: string, length: number): boolean {
  if (!/^[\p{Script=Han}A-Za-z\p{P}\p{S} ]+$/u.test(value)) return false;
  return HAN.test(value) ? length <= 10 : length <= 20;
}

/** A plate: up to 8; the first and last may be Chinese, the rest letters or digits (`粤A8Z888挂`). */
function carNumberValid(chars: readonly string[]): boolean {
  if (chars.length > 8) return false;
  const alnum = (c: string) => /^[A-Za-z0-9]$/.test(c);
  return chars.every((c, i) => alnum(c) || ((i === 0 || i === chars.length - 1) && HAN.test(c)));
}

const RULES: Record<KeywordType, (value: string, chars: readonly string[]) => boolean> = {
  thing: (v, c) => c.length <= 20 && !/\p{Cc}/u.test(v),
  number: (v, c) => c.length <= 32 && /^\d+(?:\.\d+)?$/.test(v),
  letter: (v, c) => c.length <= 32 && /^[A-Za-z]+$/.test(v),
  symbol: (v, c) => c.length <= 5 && SYMBOLS.test(v),
  character_string: (v, c) => c.length <= 32 && /^[A-Za-z0-9\p{P}\p{S}]+$/u.test(v),
  time: (v) => periodValid(TIME_POINT, v),
  date: (v) => periodValid(DATE_POINT, v),
  amount: (v, c) => c.length <= 32 && /^[¥￥$€£]?\d{1,10}(?:\.\d+)?元?$/u.test(v),
  phone_number: (v, c) => c.length <= 17 && /^[0-9\p{P}\p{S}]+$/u.test(v),
  car_number: (_, c) => carNumberValid(c),
  name: (v, c) => nameValid(v, c.length),
  phrase: (v, c) => c.length <= 5 && /^\p{Script=Han}+$/u.test(v),
};

/**
 * What is wrong with a keyword value, in WeChat's 47003 words (`is empty` or `invalid`), or
 * undefined when the value keeps its type's rule. Lengths count characters (code points), so a
 * Chinese character is one, as WeChat counts them.
 */
export function keywordProblem(type: KeywordType, value: string): 'is empty' | 'invalid' | undefined {
  if (value.length === 0) return 'is empty';
  return RULES[type](value, [...value]) ? undefined : 'invalid';
}
