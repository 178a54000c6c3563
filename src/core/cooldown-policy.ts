/**
 * How long an account cools after one response. Pure: the caller applies
 * the result to the pool state, extend-only.
 */
import type { Random } from './clock';
import { headroomResetAt, resetAtFromHeaders } from './reset-headers';
import type { CooldownCause } from './scheduling-types';
import type { CooldownPolicy, HeaderLookup } from './types';

export interface CooldownEnd {
  readonly until: number;
  readonly cause: CooldownCause;
}

/** Provider overload, not the account's quota: Anthropic 529, OpenAI/Gemini 503. */
export function isOverload(status: number): boolean {
  return status === 529 || status === 503;
}

/**
 * Cooldown for a response whose status is in the pool's failover list.
 *
 * Overload (529/503) cools for overloadMs × uniform[0.8, 1.2), whatever `retry-after` says:
 * the whole provider is busy, so a short jittered pause spreads the retries of many replicas
 * instead of parking the account for the provider's suggested wait (a long overload cooldown
 * cascades into 429s on the rest of the pool, sub2api #7219). A zero `remaining` header still
 * counts (headroom), since that limit is the account's own.
 *
 * Anything else cools until the latest applicable reset header, else for defaultMs.
 * Both are clamped to now + maxMs.
 */
export function failoverCooldown(
  status: number,
  header: HeaderLookup,
  now: number,
  policy: CooldownPolicy,
  random: Random,
): CooldownEnd {
  const ceiling = now + policy.maxMs;
  if (isOverload(status)) {
    const jittered = Math.min(ceiling, now + Math.round(policy.overloadMs * (0.8 + 0.4 * random())));
    const headroom = headroomResetAt(header, now, policy.maxMs);
    if (headroom !== undefined && headroom > jittered) return { until: headroom, cause: 'headroom' };
    return { until: jittered, cause: 'overload' };
  }
  const reset = resetAtFromHeaders(header, now, policy.maxMs);
  return { until: reset ?? Math.min(ceiling, now + policy.defaultMs), cause: 'rate-limit' };
}

/** Cooldown for any other response: only a zero `remaining` header with a future reset. */
export function headroomCooldown(header: HeaderLookup, now: number, policy: CooldownPolicy): CooldownEnd | undefined {
  const until = headroomResetAt(header, now, policy.maxMs);
  return until === undefined ? undefined : { until, cause: 'headroom' };
}
