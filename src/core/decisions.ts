/** Values exchanged with the pool scheduler (re-exported by scheduler.ts, the public entry). */
import type { BodyClass, HeaderLookup } from './policy';

export interface PickRequest {
  /** Accounts whose attempts of this request reached the provider: never picked while another exists. */
  readonly tried: ReadonlySet<string>;
  /**
   * Accounts whose attempts never reached the provider (connect failure, reset before the
   * request): they did nothing wrong and stay eligible, but other accounts go first.
   */
  readonly unreached?: ReadonlySet<string>;
  /** From sessionKeyOf(): already hashed; undefined when the pool has no sticky policy. */
  readonly sessionKey?: string;
}

/** `probe`: the attempt is a disabled account's one half-open trial. */
export type PickReason = 'sticky' | 'balanced' | 'probe' | 'earliest-cooldown';

export interface Pick {
  readonly accountId: string;
  readonly reason: PickReason;
}

export interface AttemptResponse {
  readonly accountId: string;
  /** 1-based: the first upstream attempt of a request is 1. */
  readonly attemptNumber: number;
  /** Accounts used by this request so far, this attempt's account included. */
  readonly tried: ReadonlySet<string>;
  readonly status: number;
  readonly header: HeaderLookup;
  readonly sessionKey?: string;
  /** The attempt was picked as the account's probe. */
  readonly probe?: boolean;
  /** What an error-body rule said of the body, when the pool classifies bodies and one matched. */
  readonly bodyClass?: BodyClass;
}

/**
 * What a response says about the account, from its status and (when read) its error body:
 * success (< 400), a rate limit or provider overload (failover statuses), an account fault (its
 * key refused: disableOn) or billing (the account's money or quota is gone), the client's own
 * request fault, or any other status, which passes through untouched.
 */
export type ResponseClass = 'success' | 'rate-limit' | 'overload' | 'account-fault' | 'billing' | 'request' | 'other';

/** Why a cooldown runs; `escalated` is a repeated rate limit with no reset information. */
export type CooldownCause = 'rate-limit' | 'overload' | 'headroom' | 'escalated';

/** Why an account is disabled: its key was refused, or its billing is exhausted. */
export type DisableCause = 'disabled' | 'billing';

export interface Cooldown {
  /** The account id, or the quota group when the account has one. */
  readonly subject: string;
  /** Every account that cools with the subject. */
  readonly accounts: readonly string[];
  /** Epoch ms at which the subject is usable again (after extend-only merging). */
  readonly until: number;
  readonly cause: CooldownCause;
  /** The subject was not cooling before this response (false: an existing cooldown was kept or extended). */
  readonly started: boolean;
}

export type HealthChange =
  /** Taken out of rotation until its probe at `probeAt`; `accounts` are all it covers. */
  | { readonly kind: 'disabled'; readonly cause: DisableCause; readonly accounts: readonly string[]; readonly probeAt: number }
  /** Its probe failed: the wait doubled. */
  | { readonly kind: 'probe-failed'; readonly cause: DisableCause; readonly probeAt: number }
  /** Its probe succeeded: back in rotation with every account disabled with it. */
  | { readonly kind: 'enabled'; readonly accounts: readonly string[] }
  /**
   * The mass-fault guard: disabling would put more than maxDisabledFraction of the pool out of
   * rotation, so the fault is taken as provider-wide and nothing is disabled.
   */
  | { readonly kind: 'held' };

interface DecisionBase {
  readonly class: ResponseClass;
  readonly cooldown?: Cooldown;
  readonly health?: HealthChange;
}

export type ResponseDecision =
  /** The response goes to the client unchanged. */
  | (DecisionBase & { readonly kind: 'pass' })
  /** Mark the response retriable: another account is usable now. */
  | (DecisionBase & { readonly kind: 'retry' })
  /** No account left (or attempts used up): final response, with this retry-after. */
  | (DecisionBase & { readonly kind: 'exhausted'; readonly retryAfterSeconds: number });

export type AccountState = 'available' | 'cooling' | 'disabled' | 'probing' | 'drained' | 'at-capacity';

/** One account as an operator sees it. */
export interface AccountView {
  readonly id: string;
  readonly state: AccountState;
  /** End of its (or its quota group's) cooldown, epoch ms. */
  readonly coolingUntil?: number;
  readonly cooldownCause?: CooldownCause;
  /** Rate limits with no reset information in a row (0: none). */
  readonly escalation: number;
  readonly disabledCause?: DisableCause;
  /** When a disabled account's next probe is due, epoch ms. */
  readonly probeAt?: number;
  /** An operator drained it: no new attempts until enabled. */
  readonly drained: boolean;
  readonly inFlight: number;
}
