import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiringMap } from '../../src/state/expiring-map';
import { FakeClock } from './core-fixtures';

describe('ExpiringMap', () => {
  it('never holds more than maxEntries; the least recently used goes first', () => {
    const clock = new FakeClock();
    const map = new ExpiringMap<string, number>({ clock, maxEntries: 3, ttlMs: 60_000 });
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    assert.equal(map.get('a'), 1); // a is now the most recently used
    map.set('d', 4); // evicts b
    assert.equal(map.get('b'), undefined);
    assert.deepEqual(['a', 'c', 'd'].map((k) => map.get(k)), [1, 3, 4]);
    for (let i = 0; i < 1_000; i++) map.set(`k${i}`, i);
    const kept = ['a', 'c', 'd', ...Array.from({ length: 1_000 }, (_, i) => `k${i}`)].filter((k) => map.get(k) !== undefined);
    assert.deepEqual(kept, ['k997', 'k998', 'k999']);
  });

  it('drops an entry once its TTL has passed', () => {
    const clock = new FakeClock();
    const map = new ExpiringMap<string, number>({ clock, maxEntries: 10, ttlMs: 1_000 });
    map.set('a', 1);
    map.set('b', 2, 5_000);
    clock.advance(999);
    assert.equal(map.get('a'), 1);
    clock.advance(1);
    assert.equal(map.get('a'), undefined);
    assert.equal(map.get('b'), 2);
  });

  it('a read does not extend the TTL; a set does', () => {
    const clock = new FakeClock();
    const map = new ExpiringMap<string, number>({ clock, maxEntries: 10, ttlMs: 1_000 });
    map.set('a', 1);
    clock.advance(600);
    map.get('a');
    clock.advance(600);
    assert.equal(map.get('a'), undefined);
    map.set('b', 1);
    clock.advance(600);
    map.set('b', 2);
    clock.advance(600);
    assert.equal(map.get('b'), 2);
  });

  it('refuses a size bound below 1', () => {
    assert.throws(() => new ExpiringMap({ clock: new FakeClock(), maxEntries: 0, ttlMs: 1 }), RangeError);
  });
});
