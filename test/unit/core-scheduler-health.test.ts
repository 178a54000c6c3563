/** PoolScheduler account health: disabling, probes, the mass-fault guard, escalation, unreached accounts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { account, pool, response, setup, T0 } from './core-fixtures';

const none = { tried: new Set<string>() };

describe('disabling on account faults', () => {
  it('a 401 disables the account and fails over; it is not picked again', () => {
    const { scheduler } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    assert.equal(scheduler.pick(none).accountId, 'a');
    const decision = scheduler.onResponse(response('a', 401));
    assert.equal(decision.kind, 'retry');
    assert.deepEqual(decision.health, { kind: 'disabled', cause: 'disabled', accounts: ['a'], probeAt: T0 + 600_000 });
    scheduler.release('a');
    for (let i = 0; i < 10; i++) assert.equal(scheduler.pick(none).accountId, 'b');
    assert.equal(scheduler.view('a')?.state, 'disabled');
  });

  it('a 402 disables the whole quota group as billing', () => {
    const policy = pool([account('a', { quotaGroup: 'org' }), account('b', { quotaGroup: 'org' }), account('c'), account('d'), account('e')], {
      health: { disableOn: new Set([401, 402]), probeAfterMs: 60_000, probeMaxMs: 600_000, maxDisabledFraction: 0.5 },
    });
    const { scheduler } = setup(policy);
    const decision = scheduler.onResponse(response('a', 402));
    assert.equal(decision.class, 'billing');
    assert.deepEqual(decision.health, { kind: 'disabled', cause: 'billing', accounts: ['a', 'b'], probeAt: T0 + 60_000 });
    assert.equal(scheduler.view('b')?.disabledCause, 'billing');
  });

  it('the mass-fault guard holds off a fault that would disable more than maxDisabledFraction', () => {
    const { scheduler } = setup(pool([account('a'), account('b'), account('c')]));
    assert.equal(scheduler.onResponse(response('a', 401)).health?.kind, 'disabled');
    const held = scheduler.onResponse(response('b', 401, {}, 2, ['a', 'b']));
    assert.deepEqual(held.health, { kind: 'held' });
    assert.equal(held.kind, 'retry', 'c is still healthy and untried');
    const last = scheduler.onResponse(response('c', 401, {}, 3, ['a', 'b', 'c']));
    assert.equal(last.kind, 'pass', 'a provider-wide fault reaches the client as it is');
    assert.equal(scheduler.view('b')?.state, 'available');
    assert.equal(scheduler.view('c')?.state, 'available');
  });

  it('the last usable account refused with nothing else left is exhausted, with the probe time as retry-after', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('b', 429, { 'retry-after': '900' }));
    const decision = scheduler.onResponse(response('a', 401, {}, 2, ['b', 'a']));
    assert.equal(decision.kind, 'exhausted');
    assert.equal(decision.kind === 'exhausted' && decision.retryAfterSeconds, 600);
  });
});

describe('half-open probes', () => {
  it('one probe at a time once due; never for a request that tried the account', () => {
    const { scheduler, clock } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    scheduler.onResponse(response('a', 401));
    clock.advance(600_000);
    assert.deepEqual(scheduler.pick({ tried: new Set(['a']) }), { accountId: 'b', reason: 'balanced' });
    assert.deepEqual(scheduler.pick(none), { accountId: 'a', reason: 'probe' });
    assert.equal(scheduler.view('a')?.state, 'probing');
    for (let i = 0; i < 5; i++) assert.equal(scheduler.pick(none).accountId, 'b', 'the probe is still running');
  });

  it('a successful probe re-enables; a failed one doubles the wait up to probeMax', () => {
    const policy = pool([account('a', { priority: 0 }), account('b', { priority: 1 })], {
      health: { disableOn: new Set([401]), probeAfterMs: 60_000, probeMaxMs: 150_000, maxDisabledFraction: 0.5 },
    });
    const { scheduler, clock } = setup(policy);
    scheduler.onResponse(response('a', 401));
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const due = scheduler.view('a')!.probeAt!;
      waits.push(due - clock.now());
      clock.advance(due - clock.now());
      assert.equal(scheduler.pick(none).reason, 'probe');
      const failed = scheduler.onResponse({ ...response('a', 401), probe: true });
      assert.equal(failed.health?.kind, 'probe-failed');
      scheduler.release('a', true);
    }
    assert.deepEqual(waits, [60_000, 120_000, 150_000]);
    clock.advance(150_000);
    assert.equal(scheduler.pick(none).reason, 'probe');
    const ok = scheduler.onResponse({ ...response('a', 200), probe: true });
    assert.deepEqual(ok.health, { kind: 'enabled', accounts: ['a'] });
    scheduler.release('a', true);
    assert.equal(scheduler.view('a')?.state, 'available');
    assert.equal(scheduler.pick(none).accountId, 'a');
  });

  it('a probe that ended without an answer is due again at once', () => {
    const { scheduler, clock } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    scheduler.onResponse(response('a', 401));
    clock.advance(600_000);
    assert.equal(scheduler.pick(none).reason, 'probe');
    scheduler.release('a', true);
    assert.equal(scheduler.pick(none).reason, 'probe');
  });

  it('a probe answered 429 proves the key: enabled, then cooled', () => {
    const { scheduler, clock } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('a', 401));
    clock.advance(600_000);
    scheduler.pick(none);
    const decision = scheduler.onResponse({ ...response('a', 429, { 'retry-after': '5' }), probe: true });
    assert.equal(decision.health?.kind, 'enabled');
    assert.equal(scheduler.view('a')?.state, 'cooling');
  });
});

describe('escalation', () => {
  it('each no-information 429 after the last cooldown doubles it; concurrent ones count once', () => {
    const { scheduler, clock } = setup(pool([account('a'), account('b')]));
    const first = scheduler.onResponse(response('a', 429));
    const concurrent = scheduler.onResponse(response('a', 429));
    assert.equal(first.cooldown?.until, T0 + 30_000);
    assert.equal(concurrent.cooldown?.until, T0 + 30_000);
    clock.advance(30_000);
    const second = scheduler.onResponse(response('a', 429));
    assert.deepEqual([second.cooldown?.until, second.cooldown?.cause], [clock.now() + 60_000, 'escalated']);
    assert.equal(scheduler.view('a')?.escalation, 2);
    clock.advance(60_000);
    scheduler.onResponse(response('a', 200));
    assert.equal(scheduler.view('a')?.escalation, 0);
  });

  it('a 429 with a reset header neither escalates nor resets the level', () => {
    const { scheduler, clock } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('a', 429));
    clock.advance(30_000);
    scheduler.onResponse(response('a', 429, { 'retry-after': '5' }));
    assert.equal(scheduler.view('a')?.escalation, 1);
  });

  it('never longer than cooldown.max', () => {
    const { scheduler, clock } = setup(pool([account('a'), account('b')], { cooldown: { defaultMs: 30_000, overloadMs: 10_000, maxMs: 100_000 } }));
    for (let i = 0; i < 5; i++) {
      const until = scheduler.onResponse(response('a', 429)).cooldown!.until;
      assert.ok(until - clock.now() <= 100_000);
      clock.advance(until - clock.now());
    }
  });
});

describe('unreached accounts', () => {
  it('stay eligible, others go first, and they count as usable for the retry decision', () => {
    const { scheduler } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    assert.equal(scheduler.pick({ tried: new Set(), unreached: new Set(['a']) }).accountId, 'b');
    const decision = scheduler.onResponse(response('b', 429, { 'retry-after': '30' }, 2, ['b']));
    assert.equal(decision.kind, 'retry', 'a never reached the provider, so it can still serve');
    assert.equal(scheduler.pick({ tried: new Set(['b']), unreached: new Set(['a']) }).accountId, 'a');
  });
});

describe('operator actions', () => {
  it('drain takes the account out of new picks; enable brings it back', () => {
    const { scheduler } = setup(pool([account('a', { priority: 0 }), account('b', { priority: 1 })]));
    assert.equal(scheduler.drain('a'), true);
    assert.equal(scheduler.view('a')?.state, 'drained');
    for (let i = 0; i < 5; i++) assert.equal(scheduler.pick(none).accountId, 'b');
    const decision = scheduler.onResponse(response('b', 429, { 'retry-after': '30' }, 1, ['b']));
    assert.equal(decision.kind, 'exhausted', 'a drained account is no failover target');
    assert.equal(scheduler.enable('a'), true);
    assert.equal(scheduler.pick(none).accountId, 'a');
    assert.equal(scheduler.drain('nobody'), false);
  });

  it('enable clears a fault and a cooldown; clearCooldown ends a quota group cooldown and its escalation', () => {
    const { scheduler } = setup(pool([account('a', { quotaGroup: 'g' }), account('b', { quotaGroup: 'g' }), account('c'), account('d')]));
    scheduler.onResponse(response('c', 401));
    assert.equal(scheduler.view('c')?.state, 'disabled');
    scheduler.enable('c');
    assert.equal(scheduler.view('c')?.state, 'available');
    scheduler.onResponse(response('a', 429));
    assert.equal(scheduler.view('b')?.state, 'cooling');
    assert.equal(scheduler.clearCooldown('b'), true);
    assert.deepEqual([scheduler.view('a')?.state, scheduler.view('a')?.escalation], ['available', 0]);
  });
});

describe('probes never cost a retry', () => {
  it('only a first attempt probes: a retry goes to a working account', () => {
    const accounts = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => account(id, { priority: i }));
    const { scheduler, clock } = setup(pool(accounts));
    scheduler.onResponse(response('a', 401));
    scheduler.onResponse(response('b', 401));
    clock.advance(600_000);
    assert.equal(scheduler.pick({ tried: new Set(['c']) }).accountId, 'd', 'a retry does not probe a or b');
    assert.equal(scheduler.pick({ tried: new Set(), unreached: new Set(['c']) }).accountId, 'd');
    assert.equal(scheduler.pick(none).reason, 'probe');
  });

  it('a due probe whose quota group cools does not hold back another; a drained account is not probed', () => {
    const { scheduler, clock } = setup(
      pool([account('a', { quotaGroup: 'g', priority: 0 }), account('g2', { quotaGroup: 'g', priority: 0 }), account('b', { priority: 1 }), account('c', { priority: 2 }), account('d', { priority: 3 }), account('e', { priority: 4 })]),
    );
    scheduler.onResponse(response('a', 401));
    clock.advance(1);
    scheduler.onResponse(response('b', 401));
    scheduler.drain('c');
    scheduler.onResponse(response('g2', 429, { 'retry-after': '3600' }));
    clock.advance(600_000);
    assert.deepEqual(scheduler.pick(none), { accountId: 'b', reason: 'probe' }, 'a is due first but its group cools');
    scheduler.release('b', true);
    scheduler.onResponse(response('d', 401));
    scheduler.drain('d');
    clock.advance(600_000);
    const picks = new Set([scheduler.pick(none).accountId, scheduler.pick(none).accountId]);
    assert.ok(!picks.has('d'), 'a drained account gets no probe');
  });
});

describe('a probe whose error body is read', () => {
  it('ends on the class the body gave, so a billing body doubles the wait', () => {
    const policy = pool([account('a', { priority: 0 }), account('b', { priority: 1 })], {
      health: { disableOn: new Set([401, 402]), probeAfterMs: 60_000, probeMaxMs: 600_000, maxDisabledFraction: 0.5 },
    });
    const { scheduler, clock } = setup(policy);
    scheduler.onResponse(response('a', 402));
    clock.advance(60_000);
    assert.equal(scheduler.pick(none).reason, 'probe');
    // The headers of a 400 alone look fine; the adapter holds the probe open until the body.
    const headerOnly = scheduler.onResponse({ ...response('a', 400), probe: false });
    assert.equal(headerOnly.health, undefined);
    assert.equal(scheduler.view('a')?.state, 'probing');
    const settled = scheduler.settleProbe('a', 400, 'billing');
    assert.deepEqual(settled, { kind: 'probe-failed', cause: 'billing', probeAt: clock.now() + 120_000 });
    assert.equal(scheduler.settleProbe('a', 400), undefined, 'no probe runs any more');
  });
});
