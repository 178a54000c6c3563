/** Shared by the core-* unit tests: a fake clock, a seeded PRNG, pools and header lookups. */
import type { Random } from '../../src/core/clock';
import { FakeClock, mulberry32 } from '../support/fake-clock';
import type { AccountSpec, HeaderLookup, PoolPolicy, StickyPolicy } from '../../src/core/policy';
import { PoolScheduler } from '../../src/core/scheduler';
import { createMemoryStateStore } from '../../src/state/memory-store';

export { FakeClock, T0, mulberry32 } from '../support/fake-clock';

/** A Random that replays `values` in order, then repeats the last one. */
export function scripted(...values: number[]): Random {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

export function headers(values: Record<string, string> = {}): HeaderLookup {
  return (name) => values[name];
}

export function account(id: string, extra: Partial<AccountSpec> = {}): AccountSpec {
  return { id, priority: 0, weight: 1, ...extra };
}

export function pool(accounts: AccountSpec[], extra: Partial<PoolPolicy> = {}): PoolPolicy {
  return {
    name: 'openai',
    failoverStatuses: new Set([429, 503, 529]),
    maxAttempts: 4,
    cooldown: { defaultMs: 30_000, overloadMs: 10_000, maxMs: 3_600_000 },
    health: { disableOn: new Set([401]), probeAfterMs: 600_000, probeMaxMs: 86_400_000, maxDisabledFraction: 0.5 },
    accounts,
    ...extra,
  };
}

export const STICKY: StickyPolicy = { headers: ['session_id'], ttlMs: 3_600_000, graceMs: 30_000, maxBindings: 100 };

export function setup(policy: PoolPolicy, random: Random = mulberry32(1)) {
  const clock = new FakeClock();
  const store = createMemoryStateStore({ clock, maxSessionBindings: 1000, maxRequests: 1000, requestTtlMs: 60_000 });
  const scheduler = new PoolScheduler(policy, { clock, random, sessions: store.sessions });
  return { clock, scheduler, sessions: store.sessions };
}

/** A response to one attempt, for onResponse. */
export function response(
  accountId: string,
  status: number,
  values: Record<string, string> = {},
  attemptNumber = 1,
  tried: Iterable<string> = [accountId],
) {
  return { accountId, attemptNumber, tried: new Set(tried), status, header: headers(values) };
}
