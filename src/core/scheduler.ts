/**
 * The pool scheduler: picks an account for every upstream attempt, turns each attempt's
 * response into a cooldown and a retry / exhausted / pass decision, and keeps sticky sessions.
 * One instance per pool. Pure: time, randomness and session
 * storage are injected; there is no timer (cooldowns end lazily when time is next read).
 */
import type { Clock, Random } from './clock';
import { failoverCooldown, headroomCooldown, type CooldownEnd } from './cooldown-policy';
import { PoolState } from './pool-state';
import type { SessionBindings } from './ports';
import type {
  AttemptResponse,
  Cooldown,
  Pick,
  PickRequest,
  ResponseDecision,
} from './scheduling-types';
import { drawBalanced, pickExhausted, type Choice } from './selection';
import { rebindVerdict } from './sticky';
import type { PoolPolicy } from './types';

export type {
  AttemptResponse,
  Cooldown,
  CooldownCause,
  Pick,
  PickReason,
  PickRequest,
  ResponseDecision,
} from './scheduling-types';
export { sessionKeyOf } from './sticky';

export interface SchedulerDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly sessions: SessionBindings;
}

export class PoolScheduler {
  private readonly state: PoolState;

  constructor(
    readonly policy: PoolPolicy,
    private readonly deps: SchedulerDeps,
  ) {
    this.state = new PoolState(policy.accounts);
  }

  /**
   * Chooses the account for one attempt and counts it in flight (pair with release()).
   * O((|tried| + 1) log n) for a pool of n accounts, plus O(log n) per cooldown that ended.
   */
  pick(request: PickRequest): Pick {
    const now = this.now();
    const tried = this.indicesOf(request.tried);
    const sticky = this.policy.sticky;
    const sessionKey = sticky === undefined ? undefined : request.sessionKey;
    if (sticky === undefined || sessionKey === undefined) return this.take(this.choose(tried));

    const pool = this.policy.name;
    const boundId = this.deps.sessions.get(pool, sessionKey);
    const bound = boundId === undefined ? undefined : this.state.indexOf(boundId);
    if (bound !== undefined && !tried.includes(bound) && this.state.isEligible(bound)) {
      this.deps.sessions.set(pool, sessionKey, boundId!, sticky.ttlMs);
      return this.take({ account: bound, reason: 'sticky' });
    }
    const choice = this.choose(tried);
    const chosenId = this.state.idOf(choice.account);
    if (bound === undefined) {
      this.deps.sessions.set(pool, sessionKey, chosenId, sticky.ttlMs);
    } else if (
      choice.reason === 'balanced' &&
      rebindVerdict(sticky, this.state.coolingUntil(bound), now) === 'rebind'
    ) {
      // Only rebind to an account that can serve now: moving a session onto another cooling
      // account would throw its prompt cache away for nothing.
      this.deps.sessions.set(pool, sessionKey, chosenId, sticky.ttlMs);
    }
    return this.take(choice);
  }

  /** The attempt picked on `accountId` is over. O(log n); unknown ids are ignored. */
  release(accountId: string): void {
    const account = this.state.indexOf(accountId);
    if (account !== undefined) this.state.release(account);
  }

  /**
   * Cools the account (its quota group) as the response says and decides what Envoy does next.
   * O((|tried| + 1) + log n), plus O(k log n) when a quota group of k accounts starts cooling.
   */
  onResponse(response: AttemptResponse): ResponseDecision {
    const now = this.now();
    const cooldownPolicy = this.policy.cooldown;
    if (!this.policy.failoverStatuses.has(response.status)) {
      const headroom = headroomCooldown(response.header, now, cooldownPolicy);
      if (headroom === undefined) return { kind: 'pass' };
      return { kind: 'pass', cooldown: this.applyCooldown(response.accountId, headroom, now) };
    }
    const end = failoverCooldown(response.status, response.header, now, cooldownPolicy, this.deps.random);
    const cooldown = this.applyCooldown(response.accountId, end, now);
    if (response.attemptNumber < this.policy.maxAttempts && this.usableUntried(response) > 0) {
      return { kind: 'retry', cooldown };
    }
    const wait = this.earliestUsableAt() - now;
    return { kind: 'exhausted', cooldown, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
  }

  /** End of the account's cooldown (its own or its quota group's), or undefined if not cooling. */
  coolingUntil(accountId: string): number | undefined {
    this.now();
    const account = this.state.indexOf(accountId);
    return account === undefined ? undefined : this.state.coolingUntil(account);
  }

  /** The earliest instant at which some account of the pool is not cooling; now if one is. O(1). */
  earliestUsableAt(): number {
    const now = this.now();
    if (this.state.coolingCount < this.state.size) return now;
    const subject = this.state.cooldowns.peek();
    return subject === -1 ? now : this.state.cooldowns.keyOf(subject)!;
  }

  /** Attempts picked on the account and not yet released. */
  inFlight(accountId: string): number {
    const account = this.state.indexOf(accountId);
    return account === undefined ? 0 : this.state.inFlight(account);
  }

  /** Reads the clock and ends the cooldowns that are over: the only way cooldowns end. */
  private now(): number {
    const now = this.deps.clock.now();
    this.state.expire(now);
    return now;
  }

  private choose(tried: readonly number[]): Choice {
    const account = drawBalanced(this.state, tried, this.deps.random);
    if (account !== -1) return { account, reason: 'balanced' };
    return pickExhausted(this.state, new Set(tried));
  }

  private take(choice: Choice): Pick {
    this.state.acquire(choice.account);
    return { accountId: this.state.idOf(choice.account), reason: choice.reason };
  }

  private applyCooldown(accountId: string, end: CooldownEnd, now: number): Cooldown {
    const account = this.state.indexOf(accountId);
    // An id this pool does not know has nothing to cool; callers only pass ids the pool picked.
    if (account === undefined) return { subject: accountId, accounts: [], until: end.until, cause: end.cause };
    const subjectIndex = this.state.subjectIndexOf(account);
    this.state.cool(subjectIndex, end.until, end.cause, now);
    const subject = this.state.subjects[subjectIndex]!;
    // Report the cooldown as it now stands: extend-only may have kept a later, earlier-caused end.
    const until = this.state.cooldowns.keyOf(subjectIndex);
    const cause = this.state.causeOf(subjectIndex);
    return {
      subject: subject.name,
      accounts: subject.memberIds,
      until: until ?? end.until,
      cause: cause ?? end.cause,
    };
  }

  /** Accounts usable now (not cooling) that the request has not tried, this attempt's included. */
  private usableUntried(response: AttemptResponse): number {
    const tried = new Set(this.indicesOf(response.tried));
    const own = this.state.indexOf(response.accountId);
    if (own !== undefined) tried.add(own);
    let usable = this.state.size - this.state.coolingCount;
    for (const account of tried) if (!this.state.isCooling(account)) usable -= 1;
    return usable;
  }

  private indicesOf(ids: ReadonlySet<string>): number[] {
    const indices: number[] = [];
    for (const id of ids) {
      const account = this.state.indexOf(id);
      if (account !== undefined) indices.push(account);
    }
    return indices;
  }
}
