/**
 * How long an account cools after one response. Pure: the caller applies the result to the
 * pool state, extend-only.
 */
import type { Random } from './clock';
import type { CooldownCause } from './decisions';
import type { CooldownPolicy, HeaderLookup } from './policy';
import { headroomResetAt, resetAtFromHeaders } from './reset-headers';

export interface CooldownEnd {
  readonly until: number;
  readonly cause: CooldownCause;
}

/**
 * Overload (529/503) cools for overloadMs × uniform[0.8, 1.2), whatever `retry-after` says:
 * the whole provider is busy, so a short jittered pause spreads the retries of many replicas
 * instead of parking the account for the provider's suggested wait (a long overload cooldown
 * cascades into 429s on the rest of the pool, sub2api #7219). A zero `remaining` header still
 * counts (headroom), since that limit is the account's own. Clamped to now + maxMs.
 */
export function overloadCooldown(header: HeaderLookup, now: number, policy: CooldownPolicy, random: Random): CooldownEnd {
  const jittered = Math.min(now + policy.maxMs, now + Math.round(policy.overloadMs * (0.8 + 0.4 * random())));
  const headroom = headroomResetAt(header, now, policy.maxMs);
  if (headroom !== undefined && headroom > jittered) return { until: headroom, cause: 'headroom' };
  return { until: jittered, cause: 'overload' };
}

/**
 * A rate limit cools until the applicable reset header. With no usable reset it escalates:
 * defaultMs × 2^level, where `escalate()` returns how many such responses came before in a row
 * (an OpenAI `insufficient_quota` 429 carries no reset and would otherwise cost one attempt
 * every defaultMs forever). Clamped to now + maxMs.
 */
export function rateLimitCooldown(header: HeaderLookup, now: number, policy: CooldownPolicy, escalate: () => number): CooldownEnd {
  const reset = resetAtFromHeaders(header, now, policy.maxMs);
  if (reset !== undefined) return { until: reset, cause: 'rate-limit' };
  const level = escalate();
  return { until: Math.min(now + policy.maxMs, now + policy.defaultMs * 2 ** level), cause: level === 0 ? 'rate-limit' : 'escalated' };
}

/** Cooldown for any other response: only a zero `remaining` header with a future reset. */
export function headroomCooldown(header: HeaderLookup, now: number, policy: CooldownPolicy): CooldownEnd | undefined {
  const until = headroomResetAt(header, now, policy.maxMs);
  return until === undefined ? undefined : { until, cause: 'headroom' };
}
