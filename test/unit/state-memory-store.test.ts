import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { createMemoryStateStore } from '../../src/state/memory-store';
import { FakeClock } from './core-fixtures';

function store(maxSessionBindings: number | ((pool: string) => number) = 3) {
  const clock = new FakeClock();
  return { clock, ...createMemoryStateStore({ clock, maxSessionBindings, maxRequests: 3, requestTtlMs: 10_000 }) };
}

describe('memory store: session bindings', () => {
  it('binds, refreshes and expires with the TTL given on each set', () => {
    const { sessions, clock } = store();
    sessions.set('openai', 's1', 'a', 1_000);
    assert.equal(sessions.get('openai', 's1'), 'a');
    assert.equal(sessions.get('anthropic', 's1'), undefined);
    clock.advance(900);
    sessions.set('openai', 's1', 'a', 1_000);
    clock.advance(900);
    assert.equal(sessions.get('openai', 's1'), 'a');
    clock.advance(100);
    assert.equal(sessions.get('openai', 's1'), undefined);
  });

  it('keeps at most maxSessionBindings per pool, least recently used evicted', () => {
    const { sessions } = store();
    for (let i = 0; i < 500; i++) sessions.set('openai', `s${i}`, 'a', 60_000);
    sessions.set('anthropic', 'x', 'b', 60_000);
    const live = Array.from({ length: 500 }, (_, i) => sessions.get('openai', `s${i}`)).filter(Boolean);
    assert.equal(live.length, 3);
    assert.equal(sessions.get('openai', 's499'), 'a');
    assert.equal(sessions.get('anthropic', 'x'), 'b', 'a busy pool does not evict another pool');
  });

  it('takes a per-pool bound from a function', () => {
    const { sessions } = store((pool) => (pool === 'big' ? 10 : 1));
    for (let i = 0; i < 20; i++) {
      sessions.set('big', `s${i}`, 'a', 60_000);
      sessions.set('small', `s${i}`, 'a', 60_000);
    }
    const count = (pool: string) => Array.from({ length: 20 }, (_, i) => sessions.get(pool, `s${i}`)).filter(Boolean).length;
    assert.equal(count('big'), 10);
    assert.equal(count('small'), 1);
  });

});

describe('memory store: request attempts', () => {
  it('remembers a copy of the tried list until requestTtlMs', () => {
    const { requests, clock } = store();
    const tried = ['a'];
    requests.set('req-1', tried);
    tried.push('b');
    assert.deepEqual(requests.get('req-1'), ['a']);
    assert.ok(Object.isFrozen(requests.get('req-1')));
    clock.advance(9_999);
    assert.deepEqual(requests.get('req-1'), ['a']);
    clock.advance(1);
    assert.equal(requests.get('req-1'), undefined);
  });

  it('keeps at most maxRequests request ids', () => {
    const { requests } = store();
    for (let i = 0; i < 1_000; i++) requests.set(`req-${i}`, ['a']);
    const live = Array.from({ length: 1_000 }, (_, i) => requests.get(`req-${i}`)).filter(Boolean);
    assert.equal(live.length, 3);
  });
});

test('countByAccount counts live bindings per account of one pool', () => {
  const clock = new FakeClock();
  const { sessions } = createMemoryStateStore({ clock, maxSessionBindings: 10, maxRequests: 10, requestTtlMs: 1_000 });
  sessions.set('p', 's1', 'a', 1_000);
  sessions.set('p', 's2', 'a', 5_000);
  sessions.set('p', 's3', 'b', 5_000);
  sessions.set('q', 's1', 'a', 5_000);
  assert.deepEqual([...sessions.countByAccount('p')], [['a', 2], ['b', 1]]);
  clock.advance(1_000);
  assert.deepEqual([...sessions.countByAccount('p')], [['a', 1], ['b', 1]], 'an expired binding is not counted');
  assert.deepEqual([...sessions.countByAccount('none')], []);
});
