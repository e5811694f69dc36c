// Days as the read models count them: funnel days are dates in China Standard Time (UTC+8).

const CST_OFFSET_MS = 8 * 3600_000;

const DAY_MS = 86_400_000;
// Events come in time order, mostly within one day: the last day formatted is reused.
let lastDayNumber = Number.NaN;
let lastDay = '';

/** The funnel day of an instant: its date in China Standard Time (UTC+8), `YYYY-MM-DD`. */
export function cstDay(ms: number): string {
  const dayNumber = Math.floor((ms + CST_OFFSET_MS) / DAY_MS);
  if (dayNumber !== lastDayNumber) {
    lastDay = new Date(ms + CST_OFFSET_MS).toISOString().slice(0, 10);
    lastDayNumber = dayNumber;
  }
  return lastDay;
}

/** The inclusive list of `YYYY-MM-DD` days from `start` to `end` (both already validated). */
export function daysBetween(start: string, end: string): string[] {
  const days: string[] = [];
  const last = Date.parse(`${end}T00:00:00Z`);
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= last; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** True for a `YYYY-MM-DD` that names a real day (the contract's pattern accepts 2025-02-30). */
export function isCalendarDate(date: string): boolean {
  const ms = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === date;
}
