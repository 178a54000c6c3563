/**
 * What the core needs from state that outlives one attempt. Memory implementations live in
 * src/state/; a shared (Redis) store can implement the same interfaces later.
 * Both are synchronous: the core decides inside one ext_proc message, and a remote store is
 * expected to serve these from a local cache that it keeps in step in the background.
 */

/** Sticky bindings: hashed session key → account id, per pool. Raw session ids are never stored. */
export interface SessionBindings {
  get(pool: string, sessionKey: string): string | undefined;
  /** Creates or refreshes a binding; it lapses `ttlMs` after this call. */
  set(pool: string, sessionKey: string, accountId: string, ttlMs: number): void;
  /** Live bindings per account of the pool, for operators: O(bindings), never on the hot path. */
  countByAccount(pool: string): ReadonlyMap<string, number>;
}

/**
 * Accounts a request already tried, keyed by a hash of its x-request-id: the local fallback for
 * when the tried list does not come back through Envoy's dynamic metadata. Bounded in size and age.
 */
export interface RequestAttempts {
  get(requestKey: string): readonly string[] | undefined;
  set(requestKey: string, tried: readonly string[]): void;
}
