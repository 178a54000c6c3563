/** Sticky sessions: session keys, binding, grace for short cooldowns, rebinding for long ones. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sessionKeyOf } from '../../src/core/scheduler';
import { account, headers, pool, response, scripted, setup, STICKY } from './core-fixtures';

describe('sessionKeyOf', () => {
  it('hashes the pool and the first present configured header', () => {
    const sticky = { ...STICKY, headers: ['session_id', 'conversation_id'] };
    const key = sessionKeyOf(sticky, headers({ conversation_id: 'conv-123' }), 'openai');
    assert.match(key ?? '', /^[0-9a-f]{64}$/);
    assert.ok(!key!.includes('conv-123'));
    assert.equal(sessionKeyOf(sticky, headers({ session_id: '', conversation_id: 'conv-123' }), 'openai'), key);
    assert.notEqual(sessionKeyOf(sticky, headers({ session_id: 'conv-123' }), 'openai'), undefined);
    assert.notEqual(sessionKeyOf(sticky, headers({ conversation_id: 'conv-123' }), 'anthropic'), key);
  });

  it('is undefined without a sticky policy or without any session header', () => {
    assert.equal(sessionKeyOf(undefined, headers({ session_id: 's' }), 'openai'), undefined);
    assert.equal(sessionKeyOf(STICKY, headers({ other: 's' }), 'openai'), undefined);
  });
});

function stickyPool() {
  // Two equal accounts; the scripted random draws 'a' first, then always 'b'.
  return setup(pool([account('a'), account('b')], { sticky: STICKY }), scripted(0.1, 0.1, 0.9));
}

const S = 'session-key-S';
const attempt = (tried: string[] = []) => ({ tried: new Set(tried), sessionKey: S });

describe('sticky sessions', () => {
  it('binds a new session and keeps serving it from the bound account', () => {
    const { scheduler, sessions } = stickyPool();
    assert.deepEqual(scheduler.pick(attempt()), { accountId: 'a', reason: 'balanced' });
    assert.equal(sessions.get('openai', S), 'a');
    for (let i = 0; i < 5; i++) assert.deepEqual(scheduler.pick(attempt()), { accountId: 'a', reason: 'sticky' });
  });

  it('refreshes the binding TTL on every sticky pick', () => {
    const { scheduler, sessions, clock } = stickyPool();
    scheduler.pick(attempt());
    clock.advance(STICKY.ttlMs - 1);
    scheduler.pick(attempt());
    clock.advance(STICKY.ttlMs - 1);
    assert.equal(sessions.get('openai', S), 'a');
    clock.advance(1);
    assert.equal(sessions.get('openai', S), undefined);
  });

  it('A cools 1 h → S is served by B and rebound to B', () => {
    const { scheduler, sessions } = stickyPool();
    scheduler.pick(attempt());
    scheduler.onResponse(response('a', 429, { 'retry-after': '3600' }));
    assert.deepEqual(scheduler.pick(attempt(['a'])), { accountId: 'b', reason: 'balanced' });
    assert.equal(sessions.get('openai', S), 'b');
    assert.deepEqual(scheduler.pick(attempt()), { accountId: 'b', reason: 'sticky' });
  });

  it('A cools 5 s → S is served by B but stays bound to A, and returns to A afterwards', () => {
    const { scheduler, sessions, clock } = stickyPool();
    scheduler.pick(attempt());
    scheduler.onResponse(response('a', 429, { 'retry-after': '5' }));
    assert.deepEqual(scheduler.pick(attempt(['a'])), { accountId: 'b', reason: 'balanced' });
    assert.equal(sessions.get('openai', S), 'a');
    assert.equal(scheduler.pick(attempt()).accountId, 'b'); // a new request while A still cools
    clock.advance(5_000);
    assert.deepEqual(scheduler.pick(attempt()), { accountId: 'a', reason: 'sticky' });
  });

  it('a bound account that was tried but is not cooling keeps the binding', () => {
    const { scheduler, sessions } = stickyPool();
    scheduler.pick(attempt());
    assert.equal(scheduler.pick(attempt(['a'])).accountId, 'b');
    assert.equal(sessions.get('openai', S), 'a');
  });

  it('does not rebind onto an account that is cooling too', () => {
    const { scheduler, sessions } = stickyPool();
    scheduler.pick(attempt());
    scheduler.onResponse(response('a', 429, { 'retry-after': '3600' }));
    scheduler.onResponse(response('b', 429, { 'retry-after': '600' }));
    assert.deepEqual(scheduler.pick(attempt(['a'])), { accountId: 'b', reason: 'earliest-cooldown' });
    assert.equal(sessions.get('openai', S), 'a');
  });

  it('a binding to an account no longer in the pool is replaced', () => {
    const { scheduler, sessions } = stickyPool();
    sessions.set('openai', S, 'removed', STICKY.ttlMs);
    assert.equal(scheduler.pick(attempt()).accountId, 'a');
    assert.equal(sessions.get('openai', S), 'a');
  });

  it('a pool without a sticky policy ignores the session key', () => {
    const { scheduler, sessions } = setup(pool([account('a'), account('b')]), scripted(0.1));
    scheduler.pick(attempt());
    assert.equal(sessions.get('openai', S), undefined);
  });
});
