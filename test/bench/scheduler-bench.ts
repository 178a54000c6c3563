/**
 * How the cost of a pick grows with the pool. Prints figures only — no
 * assertion on time, since machines differ; the ratios to the 10-account baseline measured in
 * the same run are what to compare (an O(log n) pick should stay within a small factor).
 * Bounded iteration counts: finishes in a few seconds.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock } from '../../src/core/clock';
import { PoolScheduler } from '../../src/core/scheduler';
import type { SessionBindings } from '../../src/core/ports';
import type { AccountSpec, PoolPolicy } from '../../src/core/policy';
import { mulberry32 } from '../support/fake-clock';

const PICKS = 300_000;
const WARMUP = 50_000;
const RUNS = 5;

const clock: Clock = { now: () => 1_700_000_000_000 }; // frozen: cooldowns set below never end
const noSessions: SessionBindings = { get: () => undefined, set: () => {}, countByAccount: () => new Map() };

function policy(size: number): PoolPolicy {
  const accounts: AccountSpec[] = Array.from({ length: size }, (_, i) => ({
    id: `account-${i}`,
    priority: i % 10 === 9 ? 1 : 0,
    weight: 1 + (i % 7),
    ...(i % 4 === 0 ? { quotaGroup: `group-${i % 400}` } : {}),
  }));
  return {
    name: 'bench',
    failoverStatuses: new Set([429, 529]),
    maxAttempts: 4,
    cooldown: { defaultMs: 30_000, overloadMs: 10_000, maxMs: 3_600_000 },
    health: { disableOn: new Set([401]), probeAfterMs: 600_000, probeMaxMs: 86_400_000, maxDisabledFraction: 0.5 },
    accounts,
  };
}

function scheduler(size: number, coolingShare = 0): PoolScheduler {
  const s = new PoolScheduler(policy(size), { clock, random: mulberry32(size), sessions: noSessions });
  const header = (name: string) => (name === 'retry-after' ? '600' : undefined);
  // Cool ungrouped accounts only, so the share is exact.
  const target = Math.round(size * coolingShare);
  for (let i = 1, cooled = 0; cooled < target && i < size; i++) {
    if (i % 4 === 0) continue;
    const id = `account-${i}`;
    s.onResponse({ accountId: id, attemptNumber: 1, tried: new Set([id]), status: 429, header });
    cooled += 1;
  }
  return s;
}

/** Median ns per pick+release over RUNS runs of PICKS each. */
function measurePicks(s: PoolScheduler, tried: ReadonlySet<string>): number {
  const request = { tried };
  for (let i = 0; i < WARMUP; i++) s.release(s.pick(request).accountId);
  const samples: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PICKS; i++) s.release(s.pick(request).accountId);
    samples.push(Number(process.hrtime.bigint() - start) / PICKS);
  }
  return samples.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
}

/** ns per onResponse(429) on a rotating account (cooldown start or extension + decision). */
function measureResponses(s: PoolScheduler, size: number): number {
  const count = 100_000;
  const header = (name: string) => (name === 'x-ratelimit-reset-requests' ? '20s' : undefined);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const id = `account-${(i * 7919) % size}`;
    s.onResponse({ accountId: id, attemptNumber: 1, tried: new Set([id]), status: 429, header });
  }
  return Number(process.hrtime.bigint() - start) / count;
}

export function gc(): void {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  collect();
  collect();
}

function row(label: string, ns: number, baseline: number): string {
  const perSecond = Math.round(1e9 / ns).toLocaleString('en-US');
  return `${label.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/pick ${perSecond.padStart(12)} picks/s  x${(ns / baseline).toFixed(2)}`;
}

export function schedulerBench(): void {
  const started = Date.now();
  console.log(`keyswitch scheduler bench (node ${process.version}); pick+release, median of ${RUNS} x ${PICKS}`);
  const baseline = measurePicks(scheduler(10), new Set());
  console.log(row('10 accounts (baseline)', baseline, baseline));
  const big = scheduler(10_000);
  console.log(row('10,000 accounts', measurePicks(big, new Set()), baseline));
  const cooling = scheduler(10_000, 0.2);
  console.log(row('10,000 accounts, 20% cooling', measurePicks(cooling, new Set()), baseline));
  const tried = new Set(['account-1', 'account-2', 'account-3']);
  console.log(row('10,000 accounts, 20% cooling, 3 tried', measurePicks(cooling, tried), baseline));
  console.log(`onResponse(429), 10,000 accounts: ${measureResponses(scheduler(10_000), 10_000).toFixed(0)} ns/response`);

  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = scheduler(10_000);
  gc();
  const after = process.memoryUsage().heapUsed;
  console.log(
    `heap used: ${(before / 1048576).toFixed(1)} MiB before, ${(after / 1048576).toFixed(1)} MiB after creating a ` +
      `10,000-account scheduler (+${((after - before) / 1048576).toFixed(2)} MiB, ${Math.round((after - before) / 10_000)} B/account)`,
  );
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s (${kept.view('account-0')?.inFlight} in flight)`);
}

