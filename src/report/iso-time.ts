/** ISO 8601 times as `toISOString()` writes them, read and written faster than through `Date`, for a million records. */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digits of `text` from `start` to `end` as a number; NaN when one is not a digit. */
function digits(text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * The time of `text` when it is exactly what `toISOString()` writes (`2026-01-02T03:04:05.678Z`, a real date),
 * else NaN. Much cheaper than `Date.parse` and a round trip through `toISOString()`, for a million records.
 */
export function canonicalTime(text: string): number {
  if (text.length !== 24 || text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':' || text[19] !== '.' || text[23] !== 'Z') return Number.NaN;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 7);
  const day = digits(text, 8, 10);
  const hours = digits(text, 11, 13);
  const minutes = digits(text, 14, 16);
  const secs = digits(text, 17, 19);
  const ms = digits(text, 20, 23);
  const isLeap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = (DAYS_IN_MONTH[month - 1] ?? 0) + (month === 2 && isLeap ? 1 : 0);
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= monthDays && hours < 24 && minutes < 60 && secs < 60) || Number.isNaN(ms)) return Number.NaN;
  // Date.UTC reads years 0 to 99 as 1900 to 1999: set the year on its own.
  const date = new Date(Date.UTC(2000, month - 1, day, hours, minutes, secs, ms));
  return date.setUTCFullYear(year);
}

const DAY_MS = 86_400_000;
let cachedDay = Number.NaN;
let cachedDayText = '';
const pad = (value: number, width: number): string => String(value).padStart(width, '0');

/** `new Date(ms).toISOString()`, for whole ms, about three times faster: the date part is kept from the last call. */
export function isoTime(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayText = new Date(day * DAY_MS).toISOString().slice(0, -13);
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const secs = Math.floor(rest / 1000);
  return `${cachedDayText}${pad(hours, 2)}:${pad(minutes, 2)}:${pad(secs, 2)}.${pad(rest - secs * 1000, 3)}Z`;
}
