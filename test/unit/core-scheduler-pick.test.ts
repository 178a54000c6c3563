/** PoolScheduler.pick: weights, priority tiers, tried, concurrency, exhaustion. Fake clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { account, mulberry32, pool, response, scripted, setup } from './core-fixtures';

const none = { tried: new Set<string>() };

describe('pick: spreading by weight', () => {
  it('weights 1/2/7 over 10,000 picks land within 2 points of 10/20/70 %', () => {
    const { scheduler } = setup(
      pool([account('a', { weight: 1 }), account('b', { weight: 2 }), account('c', { weight: 7 })]),
      mulberry32(42),
    );
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const pick = scheduler.pick(none);
      assert.equal(pick.reason, 'balanced');
      counts.set(pick.accountId, (counts.get(pick.accountId) ?? 0) + 1);
      scheduler.release(pick.accountId);
    }
    for (const [id, share] of [['a', 10], ['b', 20], ['c', 70]] as const) {
      const percent = ((counts.get(id) ?? 0) / 10_000) * 100;
      assert.ok(Math.abs(percent - share) <= 2, `${id}: ${percent}% vs ${share}%`);
    }
  });

  it('power of two choices: the second draw wins only when strictly less loaded', () => {
    // Equal weights: u < 0.5 draws a, u >= 0.5 draws b.
    const { scheduler } = setup(pool([account('a'), account('b')]), scripted(0.1, 0.9, 0.1, 0.9, 0.9, 0.1));
    assert.equal(scheduler.pick(none).accountId, 'a'); // a vs b, both idle: first draw kept
    assert.equal(scheduler.pick(none).accountId, 'b'); // a (1 in flight) vs b (idle): b
    assert.equal(scheduler.pick(none).accountId, 'b'); // b vs a, both at 1: first draw kept
    assert.equal(scheduler.view('a')?.inFlight, 1);
    assert.equal(scheduler.view('b')?.inFlight, 2);
  });

  it('load is compared per unit of weight, not by attempts in flight', () => {
    // Weights 1 and 4: u < 0.2 draws a, else b.
    const { scheduler } = setup(
      pool([account('a'), account('b', { weight: 4 })]),
      scripted(0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9),
    );
    scheduler.pick(none); // a, a → a
    scheduler.pick(none); // b, b → b
    scheduler.pick(none); // b, b → b
    // a: 1 in flight / weight 1 = 1; b: 2 in flight / weight 4 = 0.5 → b, though it has more.
    assert.equal(scheduler.pick(none).accountId, 'b');
  });
});

describe('pick: priority tiers', () => {
  it('serves from the best tier, falls back while it cools, returns when the cooldown ends', () => {
    const { scheduler, clock } = setup(
      pool([account('backup', { priority: 5 }), account('main1', { priority: 1 }), account('main2', { priority: 1 })]),
    );
    for (let i = 0; i < 50; i++) {
      const pick = scheduler.pick(none);
      assert.notEqual(pick.accountId, 'backup');
      scheduler.release(pick.accountId);
    }
    scheduler.onResponse(response('main1', 429, { 'retry-after': '10' }));
    scheduler.onResponse(response('main2', 429, { 'retry-after': '20' }));
    assert.equal(scheduler.pick(none).accountId, 'backup');
    clock.advance(10_000);
    assert.equal(scheduler.pick(none).accountId, 'main1');
  });

  it('a tier whose accounts were all tried gives way to the next tier', () => {
    const { scheduler } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    assert.deepEqual(scheduler.pick({ tried: new Set(['a']) }), { accountId: 'b', reason: 'balanced' });
  });
});

describe('pick: tried and concurrency', () => {
  it('never picks a tried account while another is eligible', () => {
    const { scheduler } = setup(pool(['a', 'b', 'c', 'd'].map((id) => account(id))), mulberry32(3));
    for (let i = 0; i < 200; i++) {
      const pick = scheduler.pick({ tried: new Set(['a', 'c', 'unknown']) });
      assert.ok(pick.accountId === 'b' || pick.accountId === 'd');
      scheduler.release(pick.accountId);
    }
  });

  it('skips an account at maxConcurrency until an attempt is released', () => {
    const { scheduler } = setup(pool([account('a', { maxConcurrency: 1, weight: 100 }), account('b')]), scripted(0));
    assert.equal(scheduler.pick(none).accountId, 'a');
    assert.equal(scheduler.pick(none).accountId, 'b');
    assert.equal(scheduler.pick(none).accountId, 'b');
    scheduler.release('a');
    assert.equal(scheduler.pick(none).accountId, 'a');
  });

  it('release never drives in-flight below zero and ignores unknown accounts', () => {
    const { scheduler } = setup(pool([account('a')]));
    scheduler.release('a');
    scheduler.release('nobody');
    assert.equal(scheduler.view('a')?.inFlight, 0);
    assert.equal(scheduler.view('nobody'), undefined);
  });
});

describe('pick: nothing eligible', () => {
  it('chooses the untried account whose cooldown ends first', () => {
    const { scheduler } = setup(pool(['a', 'b', 'c'].map((id) => account(id))));
    scheduler.onResponse(response('a', 429, { 'retry-after': '5' }));
    scheduler.onResponse(response('b', 429, { 'retry-after': '30' }));
    scheduler.onResponse(response('c', 429, { 'retry-after': '20' }));
    assert.deepEqual(scheduler.pick(none), { accountId: 'a', reason: 'earliest-cooldown' });
    assert.deepEqual(scheduler.pick({ tried: new Set(['a']) }), { accountId: 'c', reason: 'earliest-cooldown' });
  });

  it('every account tried: the one whose cooldown ends first overall', () => {
    const { scheduler } = setup(pool(['a', 'b'].map((id) => account(id))));
    scheduler.onResponse(response('a', 429, { 'retry-after': '50' }));
    scheduler.onResponse(response('b', 429, { 'retry-after': '40' }));
    assert.deepEqual(scheduler.pick({ tried: new Set(['a', 'b']) }), { accountId: 'b', reason: 'earliest-cooldown' });
  });

  it('every account tried, none cooling: the least loaded', () => {
    const { scheduler } = setup(pool([account('a'), account('b', { weight: 3 })]), scripted(0));
    scheduler.pick(none); // a
    scheduler.pick(none); // a at load 1 vs … first draw a again (u = 0): a
    scheduler.pick({ tried: new Set(['a']) }); // b, load 1/3
    assert.deepEqual(scheduler.pick({ tried: new Set(['a', 'b']) }), { accountId: 'b', reason: 'balanced' });
  });

  it('all saturated: the least loaded by inFlight / weight', () => {
    const { scheduler } = setup(
      pool([account('a', { maxConcurrency: 1 }), account('b', { maxConcurrency: 2, weight: 4 })]),
      mulberry32(5),
    );
    scheduler.pick(none);
    scheduler.pick(none);
    scheduler.pick(none);
    assert.equal(scheduler.view('a')!.inFlight + scheduler.view('b')!.inFlight, 3);
    assert.deepEqual(scheduler.pick(none), { accountId: 'b', reason: 'balanced' }); // 2/4 < 1/1
  });

  it('an untried saturated account is preferred to a cooling one', () => {
    const { scheduler } = setup(pool([account('a', { maxConcurrency: 1 }), account('b')]));
    scheduler.onResponse(response('b', 429));
    assert.equal(scheduler.pick(none).accountId, 'a');
    assert.deepEqual(scheduler.pick(none), { accountId: 'a', reason: 'balanced' });
  });
});
