/**
 * State kept in this process only: sticky session bindings and the accounts each request has
 * tried. Everything is bounded in number (least recently used evicted) and in age (TTL), so a
 * flood of distinct sessions or request ids cannot grow memory.
 */
import type { Clock } from '../core/clock';
import { ExpiringMap } from './expiring-map';
import type { RequestAttempts, SessionBindings } from '../core/ports';

export interface MemoryStateOptions {
  readonly clock: Clock;
  /** Bindings kept per pool; a function lets each pool use its own sticky.maxBindings. */
  readonly maxSessionBindings: number | ((pool: string) => number);
  /** Request ids remembered at most. */
  readonly maxRequests: number;
  /** How long a request's tried list is remembered after its last attempt. */
  readonly requestTtlMs: number;
}

export interface MemoryStateStore {
  readonly sessions: SessionBindings;
  readonly requests: RequestAttempts;
}

export function createMemoryStateStore(options: MemoryStateOptions): MemoryStateStore {
  return { sessions: memorySessions(options), requests: memoryRequests(options) };
}

function memorySessions(options: MemoryStateOptions): SessionBindings {
  // One map per pool so that a busy pool cannot evict another pool's sessions. Pools come from
  // config, so the number of maps is bounded too.
  const pools = new Map<string, ExpiringMap<string, string>>();
  const limitOf = (pool: string) =>
    typeof options.maxSessionBindings === 'function' ? options.maxSessionBindings(pool) : options.maxSessionBindings;
  const poolMap = (pool: string) => {
    let map = pools.get(pool);
    if (map === undefined) {
      // ttlMs here is only a default: every binding is set with the pool's sticky.ttlMs.
      map = new ExpiringMap<string, string>({ clock: options.clock, maxEntries: limitOf(pool), ttlMs: 0 });
      pools.set(pool, map);
    }
    return map;
  };
  return {
    get: (pool, sessionKey) => pools.get(pool)?.get(sessionKey),
    set: (pool, sessionKey, accountId, ttlMs) => poolMap(pool).set(sessionKey, accountId, ttlMs),
    countByAccount: (pool) => {
      const counts = new Map<string, number>();
      for (const accountId of pools.get(pool)?.values() ?? []) counts.set(accountId, (counts.get(accountId) ?? 0) + 1);
      return counts;
    },
  };
}

function memoryRequests(options: MemoryStateOptions): RequestAttempts {
  const requests = new ExpiringMap<string, readonly string[]>({
    clock: options.clock,
    maxEntries: options.maxRequests,
    ttlMs: options.requestTtlMs,
  });
  return {
    get: (requestId) => requests.get(requestId),
    // A frozen copy: the caller may keep mutating its own array.
    set: (requestId, tried) => requests.set(requestId, Object.freeze([...tried])),
  };
}
