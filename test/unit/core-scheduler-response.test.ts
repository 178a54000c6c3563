/** PoolScheduler.onResponse: cooldown lengths, quota groups, retry vs exhausted, headroom. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { account, pool, response, scripted, setup, T0 } from './core-fixtures';

describe('onResponse: cooldown length', () => {
  it('a failover status without reset information cools for defaultMs', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    const decision = scheduler.onResponse(response('a', 429));
    assert.deepEqual(decision.cooldown, { subject: 'a', accounts: ['a'], until: T0 + 30_000, cause: 'rate-limit', started: true });
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 30_000);
    assert.equal(scheduler.view('b')?.coolingUntil, undefined);
  });

  it('a reset header sets the end', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('a', 429, { 'x-ratelimit-reset-requests': '1.5s' }));
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 1_500);
  });

  it('no cooldown lasts longer than maxMs', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('a', 429, { 'retry-after': String(6 * 3600) }));
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 3_600_000);
  });

  it('overload (529, 503) cools for overloadMs × [0.8, 1.2) and ignores retry-after', () => {
    const { scheduler } = setup(pool([account('a'), account('b'), account('c')]), scripted(0, 0.999));
    const low = scheduler.onResponse(response('a', 529, { 'retry-after': '600' }));
    assert.deepEqual(low.cooldown, { subject: 'a', accounts: ['a'], until: T0 + 8_000, cause: 'overload', started: true });
    const high = scheduler.onResponse(response('b', 503));
    assert.equal(high.cooldown?.until, T0 + 11_996);
  });

  it('overload still honours an exhausted remaining header (headroom)', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]), scripted(0.5));
    const decision = scheduler.onResponse(
      response('a', 529, { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '45s' }),
    );
    assert.equal(decision.cooldown?.until, T0 + 45_000);
    assert.equal(decision.cooldown?.cause, 'headroom');
  });

  it('cooldowns only extend', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(response('a', 429, { 'retry-after': '60' }));
    const shorter = scheduler.onResponse(response('a', 429, { 'retry-after': '10' }));
    assert.equal(shorter.cooldown?.until, T0 + 60_000);
    assert.equal(shorter.cooldown?.started, false, 'an existing cooldown was kept, none started');
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 60_000);
    scheduler.onResponse(response('a', 429, { 'retry-after': '90' }));
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 90_000);
  });

  it('a cooldown ends when the clock reaches it, without any timer', () => {
    const { scheduler, clock } = setup(pool([account('a')]));
    scheduler.onResponse(response('a', 429, { 'retry-after': '10' }));
    clock.advance(9_999);
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 10_000);
    assert.equal(scheduler.earliestUsableAt(), T0 + 10_000);
    clock.advance(1);
    assert.equal(scheduler.view('a')?.coolingUntil, undefined);
    assert.equal(scheduler.earliestUsableAt(), clock.now());
    assert.deepEqual(scheduler.pick({ tried: new Set() }), { accountId: 'a', reason: 'balanced' });
  });
});

describe('onResponse: quota groups', () => {
  it('cools every account of the group, and only them', () => {
    const { scheduler } = setup(
      pool([account('a', { quotaGroup: 'org-1' }), account('b', { quotaGroup: 'org-1' }), account('c')]),
    );
    const decision = scheduler.onResponse(response('a', 429, { 'retry-after': '20' }));
    assert.deepEqual(decision, {
      kind: 'retry',
      class: 'rate-limit',
      cooldown: { subject: 'org-1', accounts: ['a', 'b'], until: T0 + 20_000, cause: 'rate-limit', started: true },
    });
    assert.equal(scheduler.view('b')?.coolingUntil, T0 + 20_000);
    assert.equal(scheduler.view('c')?.coolingUntil, undefined);
    for (let i = 0; i < 20; i++) {
      const pick = scheduler.pick({ tried: new Set(['a']) });
      assert.equal(pick.accountId, 'c');
      scheduler.release(pick.accountId);
    }
  });

  it('a group named like an account id does not cool that account', () => {
    const { scheduler } = setup(pool([account('a', { quotaGroup: 'x' }), account('x')]));
    scheduler.onResponse(response('a', 429));
    assert.equal(scheduler.view('x')?.coolingUntil, undefined);
  });
});

describe('onResponse: retry or exhausted', () => {
  it('retries while another untried account is usable', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    assert.equal(scheduler.onResponse(response('a', 429)).kind, 'retry');
  });

  it('is exhausted when every other account is tried or cooling; retry-after = earliest end', () => {
    const { scheduler } = setup(pool([account('a'), account('b'), account('c')]));
    scheduler.onResponse(response('c', 429, { 'retry-after': '12.2' }));
    scheduler.onResponse(response('a', 429, { 'retry-after': '40' }));
    const decision = scheduler.onResponse(response('b', 429, { 'retry-after': '50' }, 2, ['a', 'b']));
    assert.equal(decision.kind, 'exhausted');
    assert.equal(decision.kind === 'exhausted' && decision.retryAfterSeconds, 13);
  });

  it('is exhausted at maxAttempts even with usable accounts left; retry-after is then 1', () => {
    const { scheduler } = setup(pool(['a', 'b', 'c'].map((id) => account(id)), { maxAttempts: 2 }));
    const decision = scheduler.onResponse(response('b', 429, {}, 2, ['a', 'b']));
    assert.deepEqual(decision.kind === 'exhausted' && decision.retryAfterSeconds, 1);
  });

  it('a tried account that is not cooling does not justify a retry, but counts for retry-after', () => {
    // a answered 500 (not a failover status), c cools; b's 429 leaves nothing untried and usable.
    const { scheduler } = setup(pool(['a', 'b', 'c'].map((id) => account(id))));
    assert.deepEqual(scheduler.onResponse(response('a', 500)), { kind: 'pass', class: 'other' });
    scheduler.onResponse(response('c', 429, { 'retry-after': '90' }));
    const decision = scheduler.onResponse(response('b', 429, {}, 2, ['a', 'b']));
    assert.equal(decision.kind, 'exhausted');
    assert.equal(decision.kind === 'exhausted' && decision.retryAfterSeconds, 1);
  });

  it('the attempt account counts as tried even when missing from tried', () => {
    const { scheduler } = setup(pool([account('a')]));
    const decision = scheduler.onResponse({ ...response('a', 429), tried: new Set<string>() });
    assert.equal(decision.kind, 'exhausted');
    assert.equal(decision.kind === 'exhausted' && decision.retryAfterSeconds, 30);
  });

  it('an unknown account id (removed by a reload) cools nothing, and its request still fails over', () => {
    const { scheduler } = setup(pool([account('a')]));
    const decision = scheduler.onResponse(response('ghost', 429, {}, 1, ['ghost']));
    assert.equal(decision.kind, 'retry');
    assert.equal(decision.cooldown, undefined);
    assert.equal(scheduler.view('a')?.coolingUntil, undefined);
  });
});

describe('onResponse: pass and headroom', () => {
  it('a status outside the failover list passes without a cooldown', () => {
    const { scheduler } = setup(pool([account('a')]));
    assert.deepEqual(scheduler.onResponse(response('a', 400, { 'retry-after': '30' })), { kind: 'pass', class: 'other' });
    assert.equal(scheduler.view('a')?.coolingUntil, undefined);
  });

  it('a 200 with a remaining header at zero cools the account until its reset', () => {
    const { scheduler } = setup(pool([account('a', { quotaGroup: 'g' }), account('b', { quotaGroup: 'g' }), account('c')]));
    const decision = scheduler.onResponse(
      response('a', 200, {
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': new Date(T0 + 7_000).toISOString(),
      }),
    );
    assert.deepEqual(decision, {
      kind: 'pass',
      class: 'success',
      cooldown: { subject: 'g', accounts: ['a', 'b'], until: T0 + 7_000, cause: 'headroom', started: true },
    });
    assert.equal(scheduler.pick({ tried: new Set() }).accountId, 'c');
  });

  it('a 200 with headroom left changes nothing', () => {
    const { scheduler } = setup(pool([account('a')]));
    const ok = response('a', 200, { 'x-ratelimit-remaining-requests': '10', 'x-ratelimit-reset-requests': '1s' });
    assert.deepEqual(scheduler.onResponse(ok), { kind: 'pass', class: 'success' });
  });

  it('a failover status takes the latest of retry-after and the exhausted dimension', () => {
    const { scheduler } = setup(pool([account('a'), account('b')]));
    scheduler.onResponse(
      response('a', 429, { 'retry-after': '3', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '8s' }),
    );
    assert.equal(scheduler.view('a')?.coolingUntil, T0 + 8_000);
  });
});
