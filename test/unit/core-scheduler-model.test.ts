/**
 * The indexed scheduler against a brute-force model on random operations: after every step the
 * model (plain arrays, O(n) scans) must agree with what the scheduler reports and picks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccountSpec } from '../../src/core/policy';
import { account, mulberry32, pool, response, setup } from './core-fixtures';

function randomAccounts(random: () => number, count: number): AccountSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const extra: { priority: number; weight: number; quotaGroup?: string; maxConcurrency?: number } = {
      priority: Math.floor(random() * 3),
      weight: 1 + Math.floor(random() * 5),
    };
    if (random() < 0.4) extra.quotaGroup = `g${Math.floor(random() * 4)}`;
    if (random() < 0.3) extra.maxConcurrency = 1 + Math.floor(random() * 2);
    return account(`acct-${i}`, extra);
  });
}

describe('PoolScheduler vs a brute-force model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`agrees on 1,500 random operations (seed ${seed})`, () => {
      const random = mulberry32(seed);
      const accounts = randomAccounts(random, seed % 2 === 0 ? 2 + Math.floor(random() * 5) : 10 + Math.floor(random() * 20));
      const { scheduler, clock } = setup(pool(accounts, { maxAttempts: 3 }), mulberry32(seed + 100));
      const until = new Map<string, number>(); // model: cooldown end per account
      const inFlight = new Map<string, number>(accounts.map((a) => [a.id, 0]));
      const cooling = (id: string) => (until.get(id) ?? 0) > clock.now();
      const saturated = (a: AccountSpec) => a.maxConcurrency !== undefined && inFlight.get(a.id)! >= a.maxConcurrency;

      for (let step = 0; step < 1_500; step++) {
        const op = random();
        if (op < 0.45) {
          const tried = new Set(accounts.filter(() => random() < 0.3).map((a) => a.id));
          const eligible = accounts.filter((a) => !tried.has(a.id) && !cooling(a.id) && !saturated(a));
          const pick = scheduler.pick({ tried });
          const picked = accounts.find((a) => a.id === pick.accountId)!;
          if (eligible.length > 0) {
            const bestTier = Math.min(...eligible.map((a) => a.priority));
            assert.equal(pick.reason, 'balanced');
            assert.ok(eligible.includes(picked), `picked ${picked.id} is eligible`);
            assert.equal(picked.priority, bestTier, 'from the best tier');
          } else {
            // Preference when nothing is eligible (selection.ts pickExhausted).
            const load = (b: AccountSpec) => inFlight.get(b.id)! / b.weight;
            const end = (b: AccountSpec) => until.get(b.id)!;
            const untriedUsable = accounts.filter((b) => !tried.has(b.id) && !cooling(b.id));
            const untriedCooling = accounts.filter((b) => !tried.has(b.id) && cooling(b.id));
            const anyCooling = accounts.filter((b) => cooling(b.id));
            if (untriedUsable.length > 0) {
              assert.equal(pick.reason, 'balanced');
              assert.ok(untriedUsable.includes(picked));
              assert.equal(load(picked), Math.min(...untriedUsable.map(load)));
            } else if (untriedCooling.length > 0) {
              assert.equal(pick.reason, 'earliest-cooldown');
              assert.ok(untriedCooling.includes(picked));
              assert.equal(end(picked), Math.min(...untriedCooling.map(end)));
            } else if (anyCooling.length > 0) {
              assert.equal(pick.reason, 'earliest-cooldown');
              assert.equal(end(picked), Math.min(...anyCooling.map(end)));
            } else {
              assert.equal(pick.reason, 'balanced');
              assert.equal(load(picked), Math.min(...accounts.map(load)));
            }
          }
          inFlight.set(picked.id, inFlight.get(picked.id)! + 1);
        } else if (op < 0.75) {
          const busy = accounts.filter((a) => inFlight.get(a.id)! > 0);
          if (busy.length > 0) {
            const a = busy[Math.floor(random() * busy.length)]!;
            scheduler.release(a.id);
            inFlight.set(a.id, inFlight.get(a.id)! - 1);
          }
        } else if (op < 0.9) {
          const a = accounts[Math.floor(random() * accounts.length)]!;
          const status = [200, 429, 429, 429, 529, 400][Math.floor(random() * 6)]!;
          const wait = String(1 + Math.floor(random() * 60));
          const decision = scheduler.onResponse(response(a.id, status, { 'retry-after': wait }, 1 + Math.floor(random() * 3)));
          if (decision.cooldown !== undefined) {
            assert.deepEqual(
              [...decision.cooldown.accounts].sort(),
              accounts.filter((b) => b.id === a.id || (a.quotaGroup !== undefined && b.quotaGroup === a.quotaGroup)).map((b) => b.id).sort(),
            );
            for (const id of decision.cooldown.accounts) {
              assert.ok(decision.cooldown.until >= (until.get(id) ?? 0) || !cooling(id), 'extend-only');
              until.set(id, decision.cooldown.until);
            }
          }
        } else {
          clock.advance(Math.floor(random() * 20_000));
        }

        for (const a of accounts) {
          assert.equal(scheduler.view(a.id)?.coolingUntil, cooling(a.id) ? until.get(a.id) : undefined, a.id);
          assert.equal(scheduler.view(a.id)?.inFlight, inFlight.get(a.id));
        }
        const ends = accounts.map((a) => (cooling(a.id) ? until.get(a.id)! : clock.now()));
        assert.equal(scheduler.earliestUsableAt(), Math.min(...ends));
      }
    });
  }
});
