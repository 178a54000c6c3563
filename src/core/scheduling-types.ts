/** Values exchanged with the pool scheduler (re-exported by scheduler.ts, the public entry). */
import type { HeaderLookup } from './types';

export interface PickRequest {
  /** Accounts this request already used in earlier attempts: never picked while another exists. */
  readonly tried: ReadonlySet<string>;
  /** From sessionKeyOf(): already hashed; undefined when the pool has no sticky policy. */
  readonly sessionKey?: string;
}

export type PickReason = 'sticky' | 'balanced' | 'earliest-cooldown';

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
}

export type CooldownCause = 'rate-limit' | 'overload' | 'headroom';

export interface Cooldown {
  /** The account id, or the quota group when the account has one. */
  readonly subject: string;
  /** Every account that cools with the subject. */
  readonly accounts: readonly string[];
  /** Epoch ms at which the subject is usable again (after extend-only merging). */
  readonly until: number;
  readonly cause: CooldownCause;
}

export type ResponseDecision =
  /** Status not in the failover list: the response goes to the client unchanged. */
  | { readonly kind: 'pass'; readonly cooldown?: Cooldown }
  /** Mark the response retriable: another account is usable now. */
  | { readonly kind: 'retry'; readonly cooldown: Cooldown }
  /** No account left (or attempts used up): final response, with this retry-after. */
  | { readonly kind: 'exhausted'; readonly cooldown: Cooldown; readonly retryAfterSeconds: number };
