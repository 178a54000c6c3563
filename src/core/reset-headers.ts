/**
 * When does an account's limit reset, according to the response headers of one attempt?
 * Provider facts: OpenAI "Rate limits" guide (x-ratelimit-* headers, Go durations), Anthropic
 * "Rate limits" API docs (anthropic-ratelimit-* headers, RFC 3339 resets), RFC 9110 §10.2.3
 * (retry-after as seconds or HTTP-date); unified and Codex headers as sub2api parses them
 * (Wei-Shaw/sub2api, ratelimit_service.go).
 */
import type { HeaderLookup } from './policy';
import {
  epochSeconds,
  httpDate,
  relativeGoDuration,
  relativeMilliseconds,
  relativeSeconds,
  rfc3339,
} from './reset-formats';

/** A reset further ahead than this is a broken header, not a limit (Azure OpenAI has sent -1 and 0: openai-dotnet #838). */
export const ABSURD_RESET_MS = 7 * 24 * 3_600_000;

/**
 * A header value → epoch ms on the local clock. `skew` is how far the local clock is ahead of
 * the provider's (from its `Date` header): absolute instants are on the provider's clock, so
 * they move by it; durations do not.
 */
type ResetParser = (value: string, now: number, skew: number) => number | undefined;

/** A `Date` further off than this is a broken header, not a clock that drifted. */
const ABSURD_SKEW_MS = 24 * 3_600_000;

/**
 * What the response says about the limit a reset header belongs to: 'exhausted' (its remaining
 * count is 0, its window is rejected or used up), 'not-exhausted' (its window still allows
 * requests), or 'unknown'.
 */
type Evidence = 'exhausted' | 'not-exhausted' | 'unknown';

interface ResetSource {
  readonly name: string;
  readonly parse: ResetParser;
  readonly evidence: (header: HeaderLookup) => Evidence;
}

const shifted = (at: number | undefined, skew: number): number | undefined => (at === undefined ? undefined : at + skew);
const retryAfter: ResetParser = (value, now, skew) => relativeSeconds(value, now) ?? shifted(httpDate(value), skew);
const absoluteRfc3339: ResetParser = (value, _now, skew) => shifted(rfc3339(value), skew);
const absoluteEpochSeconds: ResetParser = (value, _now, skew) => shifted(epochSeconds(value), skew);

/**
 * Local clock minus the provider's, read from the response's `Date` (RFC 9110 §6.6.1: the
 * instant the origin generated the message). 0 without a usable `Date`. Its one-second
 * resolution can make a reset up to a second late, never early by more than the network delay.
 */
function providerSkew(header: HeaderLookup, now: number): number {
  const date = read(header, 'date');
  const at = date === undefined ? undefined : httpDate(date);
  if (at === undefined || Math.abs(now - at) > ABSURD_SKEW_MS) return 0;
  return now - at;
}

/**
 * A per-key dimension (requests, tokens...) is exhausted when its remaining count is 0. Above 0
 * proves nothing: a 429 for tokens often leaves some, because the request needed more.
 */
const remainingIsZero = (remaining: string) => (header: HeaderLookup): Evidence => {
  const value = read(header, remaining);
  return value !== undefined && /^0+(?:\.0+)?$/.test(value) ? 'exhausted' : 'unknown';
};

/** Anthropic subscription status: `rejected`, or `allowed` / `allowed_warning`. */
const anthropicStatus = (statusHeader: string) => (header: HeaderLookup): Evidence => {
  const status = read(header, statusHeader)?.toLowerCase();
  if (status === 'rejected') return 'exhausted';
  return status === 'allowed' || status === 'allowed_warning' ? 'not-exhausted' : 'unknown';
};

/** Codex window by its `-used-percent`: at 100 it ran out, below it did not. */
const codexWindow = (window: string) => (header: HeaderLookup): Evidence => {
  const used = read(header, `x-codex-${window}-used-percent`);
  if (used === undefined || !/^\d+(?:\.\d+)?$/.test(used)) return 'unknown';
  return Number(used) >= 100 ? 'exhausted' : 'not-exhausted';
};

const ANTHROPIC_DIMENSIONS = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;

/** The provider's instruction for this response: retry after this long. */
const RETRY_AFTER_SOURCES: readonly { name: string; parse: ResetParser }[] = [
  { name: 'retry-after', parse: retryAfter },
  { name: 'retry-after-ms', parse: relativeMilliseconds },
  { name: 'x-ms-retry-after-ms', parse: relativeMilliseconds },
];

/** Headers that say when one limit (a dimension or a subscription window) resets. */
const LIMIT_SOURCES: readonly ResetSource[] = [
  { name: 'x-ratelimit-reset-requests', parse: relativeGoDuration, evidence: remainingIsZero('x-ratelimit-remaining-requests') },
  { name: 'x-ratelimit-reset-tokens', parse: relativeGoDuration, evidence: remainingIsZero('x-ratelimit-remaining-tokens') },
  ...ANTHROPIC_DIMENSIONS.map((d) => ({
    name: `anthropic-ratelimit-${d}-reset`,
    parse: absoluteRfc3339,
    evidence: remainingIsZero(`anthropic-ratelimit-${d}-remaining`),
  })),
  { name: 'anthropic-ratelimit-unified-reset', parse: absoluteEpochSeconds, evidence: anthropicStatus('anthropic-ratelimit-unified-status') },
  { name: 'anthropic-ratelimit-unified-5h-reset', parse: absoluteEpochSeconds, evidence: anthropicStatus('anthropic-ratelimit-unified-5h-status') },
  { name: 'anthropic-ratelimit-unified-7d-reset', parse: absoluteEpochSeconds, evidence: anthropicStatus('anthropic-ratelimit-unified-7d-status') },
  { name: 'x-codex-primary-reset-after-seconds', parse: relativeSeconds, evidence: codexWindow('primary') },
  { name: 'x-codex-secondary-reset-after-seconds', parse: relativeSeconds, evidence: codexWindow('secondary') },
];

/**
 * When the account can be used again after a rate-limited response, in epoch ms, clamped to
 * now + maxMs; undefined when no header gives a usable value. The most specific information
 * wins, and within it the latest reset:
 *   1. the resets of limits the response marks exhausted (remaining 0, window rejected or full);
 *   2. otherwise retry-after / retry-after-ms, the provider's instruction for this response;
 *   3. otherwise every reset not marked as still allowing requests.
 * So a requests-per-minute 429 does not wait for the token bucket to refill completely, and a
 * burst 429 does not lock the account until a 7-day window resets (sub2api #2258).
 * Each value stands alone: a negative, -1, unparsable, past (or now) or absurd (> 7 days ahead)
 * value is ignored, not fatal. Absolute values are read relative to the response's `Date`, so a
 * provider clock that is off neither drops a reset as past nor lengthens a cooldown.
 */
export function resetAtFromHeaders(header: HeaderLookup, now: number, maxMs: number): number | undefined {
  const limits = classifyLimits(header);
  const skew = providerSkew(header, now);
  const reset =
    latestOf(limits.exhausted, header, now, skew) ??
    latestOf(RETRY_AFTER_SOURCES, header, now, skew) ??
    latestOf(limits.unknown, header, now, skew);
  return clamp(reset, now, maxMs);
}

/**
 * Proactive cooldown from any response, 200 included: a limit the response marks exhausted
 * (a remaining count of exactly 0, a rejected or full window) whose reset names a sensible
 * future instant leaves the account no headroom until then. The latest such reset, clamped to
 * now + maxMs, or undefined.
 */
export function headroomResetAt(header: HeaderLookup, now: number, maxMs: number): number | undefined {
  return clamp(latestOf(classifyLimits(header).exhausted, header, now, providerSkew(header, now)), now, maxMs);
}

/**
 * The limit sources by what this response says of them, each judged once. Sources marked
 * 'not-exhausted' are dropped: their reset says nothing about why this response was limited.
 * (Tier 3 needs only the unknown ones: had an exhausted source a usable reset, tier 1 answered.)
 */
function classifyLimits(header: HeaderLookup): { exhausted: ResetSource[]; unknown: ResetSource[] } {
  const exhausted: ResetSource[] = [];
  const unknown: ResetSource[] = [];
  for (const source of LIMIT_SOURCES) {
    const evidence = source.evidence(header);
    if (evidence === 'exhausted') exhausted.push(source);
    else if (evidence === 'unknown') unknown.push(source);
  }
  return { exhausted, unknown };
}

function latestOf(
  sources: readonly { name: string; parse: ResetParser }[],
  header: HeaderLookup,
  now: number,
  skew: number,
): number | undefined {
  let latest: number | undefined;
  for (const source of sources) {
    const value = read(header, source.name);
    if (value !== undefined) latest = later(latest, sensible(source.parse(value, now, skew), now));
  }
  return latest;
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
