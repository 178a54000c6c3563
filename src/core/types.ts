/**
 * Domain types shared by the scheduling core. No protobuf, gRPC, Redis or file-system type
 * appears here: the ext_proc adapter converts Envoy messages into these values at the edge.
 */

/** One account of a pool, without its secret: the core never sees credentials. */
export interface AccountSpec {
  readonly id: string;
  /** Lower is preferred; the best tier with a usable account serves. */
  readonly priority: number;
  /** Relative share of picks inside a priority tier (> 0). */
  readonly weight: number;
  /** Accounts that share one provider quota cool down together. */
  readonly quotaGroup?: string;
  /** Attempts in flight at most; undefined means unbounded. */
  readonly maxConcurrency?: number;
}

export interface CooldownPolicy {
  /** Used for a failover status whose response says nothing about when to come back. */
  readonly defaultMs: number;
  /** Used for provider overload (529, or 503): short and jittered, not an account fault. */
  readonly overloadMs: number;
  /** No cooldown, however computed, lasts longer than this. */
  readonly maxMs: number;
}

export interface StickyPolicy {
  /** Request header names (lower case) whose first present value is the session id. */
  readonly headers: readonly string[];
  readonly ttlMs: number;
  /** A bound account cooling for longer than this loses the binding. */
  readonly graceMs: number;
  /** Bindings kept per pool at most; the least recently used goes first. */
  readonly maxBindings: number;
}

/** Everything the core needs to know about a pool; compiled from config. */
export interface PoolPolicy {
  readonly name: string;
  readonly failoverStatuses: ReadonlySet<number>;
  /** Upstream attempts per request at most, the first one included. */
  readonly maxAttempts: number;
  readonly cooldown: CooldownPolicy;
  readonly sticky?: StickyPolicy;
  readonly accounts: readonly AccountSpec[];
}

/** Response headers as the core reads them: lower-case names, first value wins. */
export type HeaderLookup = (name: string) => string | undefined;
