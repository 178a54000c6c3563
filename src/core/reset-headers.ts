/**
 * When does an account's limit reset, according to the response headers of one attempt?
 * Provider facts: research/providers-and-peers.md §3.1, §3.2, §3.5, §3.6.
 */
import type { HeaderLookup } from './types';
import {
  epochSeconds,
  httpDate,
  relativeGoDuration,
  relativeMilliseconds,
  relativeSeconds,
  rfc3339,
} from './reset-formats';

/** A reset further ahead than this is a broken header, not a limit (research §3.5). */
export const ABSURD_RESET_MS = 7 * 24 * 3_600_000;

type ResetParser = (value: string, now: number) => number | undefined;

interface ResetSource {
  readonly name: string;
  readonly parse: ResetParser;
  /**
   * Says the window this reset belongs to is not the one that is exhausted. Only explicit
   * evidence counts: a missing status header leaves the reset applicable.
   */
  readonly notExhausted?: (header: HeaderLookup) => boolean;
}

const retryAfter: ResetParser = (value, now) => relativeSeconds(value, now) ?? httpDate(value);
const absoluteRfc3339: ResetParser = (value) => rfc3339(value);
const absoluteEpochSeconds: ResetParser = (value) => epochSeconds(value);

/** Anthropic subscription window whose `-status` says it still allows requests. */
const unifiedWindowAllowed = (window: string) => (header: HeaderLookup) => {
  const status = read(header, `anthropic-ratelimit-unified-${window}-status`)?.toLowerCase();
  return status === 'allowed' || status === 'allowed_warning';
};

/** Codex window whose `-used-percent` is below 100: not the window that ran out. */
const codexWindowNotFull = (window: string) => (header: HeaderLookup) => {
  const used = read(header, `x-codex-${window}-used-percent`);
  return used !== undefined && /^\d+(?:\.\d+)?$/.test(used) && Number(used) < 100;
};

const ANTHROPIC_DIMENSIONS = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;

/**
 * Every header that can say when a limit resets. The API-key dimensions (requests, tokens…)
 * are all applicable — a 429 for tokens often leaves `remaining-tokens` above zero because the
 * request needed more than was left — so the latest of them wins. Subscription windows (5 h /
 * 7 d) are skipped when the response says that window is not exhausted: otherwise a burst 429
 * in the 5 h window would lock the account until the 7 d reset (sub2api #2258, research §1.5).
 */
const RESET_SOURCES: readonly ResetSource[] = [
  { name: 'retry-after', parse: retryAfter },
  { name: 'retry-after-ms', parse: relativeMilliseconds },
  { name: 'x-ms-retry-after-ms', parse: relativeMilliseconds },
  { name: 'x-ratelimit-reset-requests', parse: relativeGoDuration },
  { name: 'x-ratelimit-reset-tokens', parse: relativeGoDuration },
  ...ANTHROPIC_DIMENSIONS.map((d) => ({ name: `anthropic-ratelimit-${d}-reset`, parse: absoluteRfc3339 })),
  { name: 'anthropic-ratelimit-unified-reset', parse: absoluteEpochSeconds },
  {
    name: 'anthropic-ratelimit-unified-5h-reset',
    parse: absoluteEpochSeconds,
    notExhausted: unifiedWindowAllowed('5h'),
  },
  {
    name: 'anthropic-ratelimit-unified-7d-reset',
    parse: absoluteEpochSeconds,
    notExhausted: unifiedWindowAllowed('7d'),
  },
  {
    name: 'x-codex-primary-reset-after-seconds',
    parse: relativeSeconds,
    notExhausted: codexWindowNotFull('primary'),
  },
  {
    name: 'x-codex-secondary-reset-after-seconds',
    parse: relativeSeconds,
    notExhausted: codexWindowNotFull('secondary'),
  },
];

/** A `remaining` header that, at exactly zero, makes its `reset` header a cooldown. */
interface HeadroomPair {
  readonly remaining: string;
  readonly reset: string;
  readonly parse: ResetParser;
}

const HEADROOM_PAIRS: readonly HeadroomPair[] = [
  { remaining: 'x-ratelimit-remaining-requests', reset: 'x-ratelimit-reset-requests', parse: relativeGoDuration },
  { remaining: 'x-ratelimit-remaining-tokens', reset: 'x-ratelimit-reset-tokens', parse: relativeGoDuration },
  ...ANTHROPIC_DIMENSIONS.map((d) => ({
    remaining: `anthropic-ratelimit-${d}-remaining`,
    reset: `anthropic-ratelimit-${d}-reset`,
    parse: absoluteRfc3339,
  })),
];

/**
 * The latest applicable reset announced by the headers, in epoch ms, clamped to now + maxMs;
 * undefined when no header gives a usable one. Each value stands alone: a negative, -1,
 * unparsable, past (or now) or absurd (> 7 days ahead) value is ignored, not fatal.
 */
export function resetAtFromHeaders(header: HeaderLookup, now: number, maxMs: number): number | undefined {
  let latest: number | undefined;
  for (const source of RESET_SOURCES) {
    const value = read(header, source.name);
    if (value === undefined) continue;
    if (source.notExhausted?.(header) === true) continue;
    latest = later(latest, sensible(source.parse(value, now), now));
  }
  return clamp(latest, now, maxMs);
}

/**
 * Proactive cooldown from any response, 200 included: when a `remaining` header is exactly 0
 * and its matching `reset` header names a sensible future instant, the account has no headroom
 * until then. Returns the latest such reset clamped to now + maxMs, or undefined.
 */
export function headroomResetAt(header: HeaderLookup, now: number, maxMs: number): number | undefined {
  let latest: number | undefined;
  for (const pair of HEADROOM_PAIRS) {
    const remaining = read(header, pair.remaining);
    if (remaining === undefined || !/^0+(?:\.0+)?$/.test(remaining)) continue;
    const reset = read(header, pair.reset);
    if (reset === undefined) continue;
    latest = later(latest, sensible(pair.parse(reset, now), now));
  }
  return clamp(latest, now, maxMs);
}

function read(header: HeaderLookup, name: string): string | undefined {
  const value = header(name)?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function sensible(at: number | undefined, now: number): number | undefined {
  if (at === undefined || !Number.isFinite(at)) return undefined;
  if (at <= now || at > now + ABSURD_RESET_MS) return undefined;
  return at;
}

function later(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

function clamp(at: number | undefined, now: number, maxMs: number): number | undefined {
  return at === undefined ? undefined : Math.min(at, now + maxMs);
}
