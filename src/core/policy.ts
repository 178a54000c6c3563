/**
 * What the scheduling core knows about a pool: compiled from config, immutable. No protobuf,
 * gRPC, Redis or file-system type appears here: the adapter converts at the edge.
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
  /**
   * Used for a failover status whose response says nothing about when to come back; doubled
   * for each such response in a row (escalation), up to maxMs.
   */
  readonly defaultMs: number;
  /** Used for provider overload (529, or 503): short and jittered, not an account fault. */
  readonly overloadMs: number;
  /** No cooldown, however computed, lasts longer than this. */
  readonly maxMs: number;
}

export interface HealthPolicy {
  /** Statuses that disable the account (its key is refused) and fail over. */
  readonly disableOn: ReadonlySet<number>;
  /** A disabled account gets one real request (the probe) this long after it was disabled. */
  readonly probeAfterMs: number;
  /** A failed probe doubles the wait, up to this. */
  readonly probeMaxMs: number;
  /** Faults never disable more than this share of the pool's accounts (the mass-fault guard). */
  readonly maxDisabledFraction: number;
}

/** What a matched error body means; `request` is the client's fault and passes through. */
export type BodyClass = 'billing' | 'rate-limit' | 'overload' | 'request';

/** One error-body rule: a status, then a JSON field value or a substring of the body. */
export interface BodyRule {
  readonly statuses: ReadonlySet<number>;
  /** Dotted JSON path (`error.code`); with `equals`, the value there must equal it. */
  readonly path?: readonly string[];
  readonly equals?: string;
  /** Case-insensitive substring of the body (or of the value at `path`). */
  readonly contains?: string;
  readonly class: BodyClass;
}

export interface ErrorBodyPolicy {
  /** Rules in order, the first that matches wins. */
  readonly rules: readonly BodyRule[];
  /** Statuses whose body is read: every status some rule names. */
  readonly statuses: ReadonlySet<number>;
  /** A larger body is not classified. */
  readonly maxBytes: number;
  /** A body that arrives later than this after the response headers is not classified. */
  readonly waitMs: number;
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
  readonly health: HealthPolicy;
  /** Error-body classification; undefined when the pool does not opt in. */
  readonly errorBodies?: ErrorBodyPolicy;
  readonly sticky?: StickyPolicy;
  readonly accounts: readonly AccountSpec[];
}

/** Response headers as the core reads them: lower-case names, first value wins. */
export type HeaderLookup = (name: string) => string | undefined;
