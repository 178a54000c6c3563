/**
 * Parsers for the value forms providers use to say when a limit resets: seconds and
 * milliseconds (`retry-after`, `retry-after-ms`), Go durations (OpenAI `x-ratelimit-reset-*`),
 * RFC 3339 (Anthropic `anthropic-ratelimit-*-reset`), epoch seconds (Anthropic unified resets)
 * and HTTP-dates (RFC 9110 `retry-after`). Each returns an absolute epoch-ms instant or
 * undefined; none of them judges whether the instant is sensible (reset-headers.ts does).
 */
import { parseDuration } from './duration';

const DECIMAL = /^\d+(?:\.\d+)?$/;

/** "30", "1.5" → now + seconds. Signs are refused: a negative wait is nonsense. */
export function relativeSeconds(value: string, now: number): number | undefined {
  return DECIMAL.test(value) ? now + Number(value) * 1000 : undefined;
}

/** "250", "12.5" → now + milliseconds (`retry-after-ms`). */
export function relativeMilliseconds(value: string, now: number): number | undefined {
  return DECIMAL.test(value) ? now + Number(value) : undefined;
}

/** Go duration ("12ms", "6m0s", "1h2m3.5s") → now + duration; a bare number is read as seconds. */
export function relativeGoDuration(value: string, now: number): number | undefined {
  const ms = parseDuration(value);
  if (ms !== undefined) return now + ms;
  // Some OpenAI-compatible providers send plain seconds in the same header.
  return relativeSeconds(value, now);
}

/** Unix epoch seconds ("1755780059", decimals allowed) → absolute. */
export function epochSeconds(value: string): number | undefined {
  return DECIMAL.test(value) ? Number(value) * 1000 : undefined;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** RFC 3339 timestamp ("2025-08-21T12:40:59Z", offsets and fractions allowed) → absolute. */
export function rfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  const fraction = m[7] === undefined ? 0 : Number(`0${m[7]}`) * 1000;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const sign = m[9] === '-' ? -1 : 1;
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = sign * (offsetHours * 60 + offsetMins);
  }
  const base = utc(year, month, day, hour, minute, second);
  return base === undefined ? undefined : base + fraction - offsetMinutes * 60_000;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const IMF_FIXDATE = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * HTTP-date in the three forms a recipient must accept (RFC 9110 §5.6.7): IMF-fixdate,
 * obsolete RFC 850 and asctime. Written out instead of Date.parse, which also accepts "2"
 * (as the year 2001) and would turn a malformed `retry-after` into a date in the past.
 */
export function httpDate(value: string): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) return fromParts(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(value);
  if (m !== null) {
    // Two-digit years: RFC 9110 says a year more than 50 years ahead is in the past century.
    const twoDigit = Number(m[3]);
    const year = twoDigit + (twoDigit >= 70 ? 1900 : 2000);
    return fromParts(String(year), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(value);
  if (m !== null) return fromParts(m[6]!, m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function fromParts(year: string, month: string, day: string, hour: string, minute: string, second: string) {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (monthIndex === -1) return undefined;
  return utc(Number(year), monthIndex + 1, Number(day), Number(hour), Number(minute), Number(second));
}

/** Epoch ms of a calendar date-time in UTC, or undefined when a field is out of range. */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number) {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls 31 February over into March; a rolled date is malformed input.
  if (new Date(ms).getUTCDate() !== day) return undefined;
  return ms;
}
