/**
 * A map bounded in size (least recently used entry evicted first) whose entries lapse after a
 * time to live. Expired entries are dropped when read, and crowd nothing out for long: the size
 * bound evicts them like any other old entry. Pure: the clock is injected, no timer runs.
 * Every operation is O(1) (a JS Map keeps insertion order; a read re-inserts to mark use).
 */
import type { Clock } from '../core/clock';

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export interface ExpiringMapOptions {
  readonly clock: Clock;
  /** Entries kept at most (>= 1). */
  readonly maxEntries: number;
  /** Time to live used when set() is given none. */
  readonly ttlMs: number;
}

export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>();

  constructor(private readonly options: ExpiringMapOptions) {
    if (!(options.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
  }

  /** The live value for `key`, marking it recently used; an expired entry is deleted. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.options.clock.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** The live values, without marking them used; O(entries). */
  *values(): IterableIterator<V> {
    const now = this.options.clock.now();
    for (const entry of this.entries.values()) if (entry.expiresAt > now) yield entry.value;
  }

  /** Stores `value` for `ttlMs` (default: the map's), evicting the least recently used if full. */
  set(key: K, value: V, ttlMs: number = this.options.ttlMs): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.options.clock.now() + ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as K;
      this.entries.delete(oldest);
    }
  }
}
