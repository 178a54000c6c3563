/**
 * The pool scheduler: picks an account for every upstream attempt, turns each attempt's
 * response into cooldowns, health changes and a retry / exhausted / pass decision, and keeps
 * sticky sessions. One instance per pool. Pure: time, randomness and session storage are
 * injected; there is no timer (cooldowns end and probes fall due when time is next read).
 */
import { classifyResponse } from './classify';
import type { Clock, Random } from './clock';
import { headroomCooldown, overloadCooldown, rateLimitCooldown, type CooldownEnd } from './cooldown-policy';
import type {
  AccountView,
  AttemptResponse,
  Cooldown,
  DisableCause,
  HealthChange,
  Pick,
  PickRequest,
  ResponseClass,
  ResponseDecision,
} from './decisions';
import type { BodyClass, PoolPolicy } from './policy';
import { PoolState } from './pool-state';
import type { SessionBindings } from './ports';
import { drawBalanced, pickExhausted, type Choice } from './selection';
import { rebindVerdict } from './sticky';

export type * from './decisions';
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
   * O((|tried| + |unreached| + 1) log n) for a pool of n accounts, plus O(log n) per cooldown
   * that ended.
   */
  pick(request: PickRequest): Pick {
    const now = this.now();
    const tried = this.indicesOf(request.tried);
    const unreached = request.unreached === undefined ? [] : this.indicesOf(request.unreached);
    const sticky = this.policy.sticky;
    const sessionKey = sticky === undefined ? undefined : request.sessionKey;
    if (sticky === undefined || sessionKey === undefined) return this.take(this.choose(tried, unreached, now));

    const pool = this.policy.name;
    const boundId = this.deps.sessions.get(pool, sessionKey);
    const bound = boundId === undefined ? undefined : this.state.indexOf(boundId);
    if (bound !== undefined && !tried.includes(bound) && this.state.isEligible(bound)) {
      this.deps.sessions.set(pool, sessionKey, boundId!, sticky.ttlMs);
      return this.take({ account: bound, reason: 'sticky' });
    }
    const choice = this.choose(tried, unreached, now);
    const chosenId = this.state.idOf(choice.account);
    if (choice.reason === 'probe') return this.take(choice); // a trial is no home for a session
    if (bound === undefined) {
      this.deps.sessions.set(pool, sessionKey, chosenId, sticky.ttlMs);
    } else if (choice.reason === 'balanced' && rebindVerdict(sticky, this.unavailableUntil(bound), now) === 'rebind') {
      // Only rebind to an account that can serve now: moving a session onto another cooling
      // account would throw its prompt cache away for nothing.
      this.deps.sessions.set(pool, sessionKey, chosenId, sticky.ttlMs);
    }
    return this.take(choice);
  }

  /**
   * The attempt picked on `accountId` is over. O(log n); unknown ids are ignored. A probe that
   * ended without an answer (cancelled, never reached the provider) is due again at once.
   */
  release(accountId: string, probe = false): void {
    const account = this.state.indexOf(accountId);
    if (account === undefined) return;
    this.state.release(account);
    if (probe) this.state.abandonProbe(account, this.deps.clock.now());
  }

  /**
   * Ends the probe of an attempt whose response was judged without it (its error body was still
   * to come): with the class the body gave, or the header-only one. Undefined if no probe runs.
   */
  settleProbe(accountId: string, status: number, bodyClass?: BodyClass): HealthChange | undefined {
    const now = this.now();
    const account = this.state.indexOf(accountId);
    if (account === undefined || !this.state.isProbing(account)) return undefined;
    const responseClass = classifyResponse(status, this.policy, bodyClass);
    return this.endProbe(account, responseClass === 'account-fault' || responseClass === 'billing', now);
  }

  /**
   * Classifies the response, cools or disables the account (its quota group where the cause is
   * shared) and decides what Envoy does next. May be called a second time for the same attempt
   * with the class its error body gave: cooldowns only extend and escalation counts a burst
   * once, so the second call only adds what the body revealed.
   * O((|tried| + 1) + log n), plus O(k log n) when a quota group of k accounts changes.
   */
  onResponse(response: AttemptResponse): ResponseDecision {
    const now = this.now();
    const responseClass = classifyResponse(response.status, this.policy, response.bodyClass);
    const account = this.state.indexOf(response.accountId);
    // An id this pool no longer has (a reload removed it mid-attempt) has nothing to change,
    // but its request still fails over.
    if (account === undefined) {
      const failsOver = responseClass !== 'success' && responseClass !== 'request' && responseClass !== 'other';
      return failsOver ? this.failover(response, responseClass, undefined, undefined, true, now) : { kind: 'pass', class: responseClass };
    }
    const fault = responseClass === 'account-fault' || responseClass === 'billing';
    const probed = response.probe === true && this.state.isProbing(account) ? this.endProbe(account, fault, now) : undefined;

    switch (responseClass) {
      case 'rate-limit':
      case 'overload': {
        const end =
          responseClass === 'overload'
            ? overloadCooldown(response.header, now, this.policy.cooldown, this.deps.random)
            : rateLimitCooldown(response.header, now, this.policy.cooldown, () =>
                this.state.escalate(this.state.subjectIndexOf(account)),
              );
        return this.failover(response, responseClass, this.cool(account, end, now), probed, true, now);
      }
      case 'account-fault':
      case 'billing': {
        const health = probed ?? this.disable(account, responseClass === 'billing' ? 'billing' : 'disabled', now);
        return this.failover(response, responseClass, undefined, health, health.kind !== 'held', now);
      }
      case 'success':
        this.state.resetEscalation(this.state.subjectIndexOf(account));
        return this.pass(account, responseClass, response, probed, now);
      case 'request':
      case 'other':
        return this.pass(account, responseClass, response, probed, now);
    }
  }

  /** The earliest instant at which some account of the pool is usable; now if one is. O(1). */
  earliestUsableAt(): number {
    const now = this.now();
    if (this.state.usableCount > 0) return now;
    const subject = this.state.cooldowns.peek();
    const probe = this.state.probes.peek();
    const ends = [subject === -1 ? Infinity : this.state.cooldowns.keyOf(subject)!, probe === -1 ? Infinity : this.state.probes.keyOf(probe)!];
    const earliest = Math.min(...ends);
    return Number.isFinite(earliest) ? Math.max(now, earliest) : now;
  }

  /** One account as an operator sees it; undefined for an id the pool does not have. */
  view(accountId: string): AccountView | undefined {
    this.now();
    const account = this.state.indexOf(accountId);
    if (account === undefined) return undefined;
    const subject = this.state.subjectIndexOf(account);
    const coolingUntil = this.state.coolingUntil(account);
    const disabledCause = this.state.disabledCauseOf(account);
    const drained = this.state.isDrained(account);
    const state = this.state.isProbing(account)
      ? 'probing'
      : disabledCause !== undefined
        ? 'disabled'
        : drained
          ? 'drained'
          : coolingUntil !== undefined
          ? 'cooling'
          : this.state.isSaturated(account)
            ? 'at-capacity'
            : 'available';
    return {
      id: accountId,
      state,
      ...(coolingUntil !== undefined && { coolingUntil, cooldownCause: this.state.causeOf(subject) }),
      escalation: this.state.escalationOf(subject),
      ...(disabledCause !== undefined && { disabledCause }),
      ...(this.state.probes.has(account) && { probeAt: this.state.probes.keyOf(account) }),
      drained,
      inFlight: this.state.inFlight(account),
    };
  }

  /**
   * A config reload: take over what the previous scheduler of this pool knew of the accounts
   * both have (cooldowns, escalation, disables and their probe schedule, drains). An account in
   * `rotated` got a new key, which ends a disable: the refused key is gone. Attempts still open
   * finish on the previous scheduler, so in-flight counts start again from zero.
   */
  carryOver(previous: PoolScheduler, rotated: ReadonlySet<string>): void {
    const now = this.now();
    for (const spec of this.policy.accounts) {
      const before = previous.view(spec.id);
      if (before === undefined) continue;
      const account = this.state.indexOf(spec.id)!;
      const subject = this.state.subjectIndexOf(account);
      if (before.coolingUntil !== undefined) this.state.cool(subject, before.coolingUntil, before.cooldownCause!, now);
      this.state.raiseEscalation(subject, before.escalation);
      if (before.disabledCause !== undefined && !rotated.has(spec.id)) {
        // A probe still running on the previous scheduler is not repeated at once here.
        const wait = previous.probeWaitOf(spec.id);
        this.state.disable(account, before.disabledCause, before.probeAt ?? now + wait, wait);
      }
      if (before.drained) this.state.setDrained(account, true);
    }
  }

  private probeWaitOf(accountId: string): number {
    const account = this.state.indexOf(accountId);
    return account === undefined ? this.policy.health.probeAfterMs : this.state.probeWaitOf(account);
  }

  /** Operator action: no new attempts on the account until enable(). False for an unknown id. */
  drain(accountId: string): boolean {
    return this.act(accountId, (account) => this.state.setDrained(account, true));
  }

  /**
   * Operator action: back in rotation now, whatever kept it out: drained, disabled, or its
   * (quota group's) cooldown and escalation. The one explicit way to shorten a cooldown, with
   * clearCooldown(). False for an unknown id.
   */
  enable(accountId: string): boolean {
    return this.act(accountId, (account) => {
      this.state.setDrained(account, false);
      this.state.enable(account);
      this.clearSubject(account);
    });
  }

  /** Operator action: ends the account's (quota group's) cooldown and escalation now. */
  clearCooldown(accountId: string): boolean {
    return this.act(accountId, (account) => this.clearSubject(account));
  }

  private act(accountId: string, action: (account: number) => void): boolean {
    this.now();
    const account = this.state.indexOf(accountId);
    if (account === undefined) return false;
    action(account);
    return true;
  }

  private clearSubject(account: number): void {
    const subject = this.state.subjectIndexOf(account);
    this.state.endCooldown(subject);
    this.state.resetEscalation(subject);
  }

  /** Reads the clock and ends the cooldowns that are over: the only way cooldowns end. */
  private now(): number {
    const now = this.deps.clock.now();
    this.state.expire(now);
    return now;
  }

  /**
   * A due probe first, on a request's first attempt only (a retry must reach a working account,
   * not spend itself on trials), one attempt at a time per disabled account, never while its
   * quota group cools or it is drained; then the usual draw, first without the accounts this
   * request could not reach, then with them; then the exhausted fallback.
   */
  private choose(tried: readonly number[], unreached: readonly number[], now: number): Choice {
    if (tried.length === 0 && unreached.length === 0) {
      let due = -1;
      this.state.probes.findInOrder((account) => {
        if (this.state.probes.keyOf(account)! > now) return true;
        if (this.state.isCooling(account) || this.state.isDrained(account)) return false;
        due = account;
        return true;
      });
      if (due !== -1) return { account: due, reason: 'probe' };
    }
    const avoid = unreached.length === 0 ? tried : [...tried, ...unreached];
    let account = drawBalanced(this.state, avoid, this.deps.random);
    if (account === -1 && unreached.length > 0) account = drawBalanced(this.state, tried, this.deps.random);
    if (account !== -1) return { account, reason: 'balanced' };
    return pickExhausted(this.state, new Set(tried));
  }

  private take(choice: Choice): Pick {
    if (choice.reason === 'probe') this.state.startProbe(choice.account);
    this.state.acquire(choice.account);
    return { accountId: this.state.idOf(choice.account), reason: choice.reason };
  }

  /** A probe answered: a fault doubles the wait (up to probeMax), anything else re-enables. */
  private endProbe(account: number, fault: boolean, now: number): HealthChange {
    const cause = this.state.disabledCauseOf(account) ?? 'disabled';
    if (fault) {
      const wait = Math.min(this.policy.health.probeMaxMs, this.state.probeWaitOf(account) * 2);
      this.state.disable(account, cause, now + wait, wait);
      return { kind: 'probe-failed', cause, probeAt: now + wait };
    }
    // Billing is shared by the quota group: one working account shows the group's money is back.
    const accounts = cause === 'billing' ? this.disabledMembers(account, 'billing') : [account];
    for (const member of accounts) this.state.enable(member);
    return { kind: 'enabled', accounts: accounts.map((a) => this.state.idOf(a)) };
  }

  /**
   * Disables the account (billing: its whole quota group) unless that would put more than
   * maxDisabledFraction of the pool out of rotation: then the fault is provider-wide (an auth
   * outage must not empty the pool) and nothing is disabled.
   */
  private disable(account: number, cause: DisableCause, now: number): HealthChange {
    const subject = this.state.subjects[this.state.subjectIndexOf(account)]!;
    const targets = (cause === 'billing' ? subject.members : [account]).filter((a) => !this.state.isDisabled(a));
    if (targets.length === 0) {
      return { kind: 'disabled', cause, accounts: [], probeAt: this.state.probes.keyOf(account) ?? now };
    }
    const { maxDisabledFraction, probeAfterMs } = this.policy.health;
    if ((this.state.disabledCount + targets.length) / this.state.size > maxDisabledFraction) return { kind: 'held' };
    for (const target of targets) this.state.disable(target, cause, now + probeAfterMs, probeAfterMs);
    return { kind: 'disabled', cause, accounts: targets.map((a) => this.state.idOf(a)), probeAt: now + probeAfterMs };
  }

  private disabledMembers(account: number, cause: DisableCause): number[] {
    const subject = this.state.subjects[this.state.subjectIndexOf(account)]!;
    return subject.members.filter((member) => this.state.disabledCauseOf(member) === cause);
  }

  /** A response the pool fails over on: retry on another account if one is usable now. */
  private failover(
    response: AttemptResponse,
    responseClass: ResponseClass,
    cooldown: Cooldown | undefined,
    health: HealthChange | undefined,
    exhaustedWhenAlone: boolean,
    now: number,
  ): ResponseDecision {
    const base = { class: responseClass, ...(cooldown && { cooldown }), ...(health && { health }) };
    if (response.attemptNumber < this.policy.maxAttempts && this.usableUntried(response) > 0) return { kind: 'retry', ...base };
    // A provider-wide fault held off by the guard is the provider's answer, not exhaustion.
    if (!exhaustedWhenAlone) return { kind: 'pass', ...base };
    const wait = this.earliestUsableAt() - now;
    return { kind: 'exhausted', ...base, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
  }

  private pass(
    account: number,
    responseClass: ResponseClass,
    response: AttemptResponse,
    health: HealthChange | undefined,
    now: number,
  ): ResponseDecision {
    const headroom = headroomCooldown(response.header, now, this.policy.cooldown);
    const cooldown = headroom === undefined ? undefined : this.cool(account, headroom, now);
    return { kind: 'pass', class: responseClass, ...(cooldown && { cooldown }), ...(health && { health }) };
  }

  private cool(account: number, end: CooldownEnd, now: number): Cooldown {
    const subjectIndex = this.state.subjectIndexOf(account);
    const started = this.state.cool(subjectIndex, end.until, end.cause, now);
    const subject = this.state.subjects[subjectIndex]!;
    // Report the cooldown as it now stands: extend-only may have kept a later, earlier-caused end.
    return {
      subject: subject.name,
      accounts: subject.memberIds,
      until: this.state.cooldowns.keyOf(subjectIndex) ?? end.until,
      cause: this.state.causeOf(subjectIndex) ?? end.cause,
      started,
    };
  }

  /** A cooling, disabled or drained account is unavailable until then; undefined if it is usable. */
  private unavailableUntil(account: number): number | undefined {
    if (this.state.isDrained(account)) return Infinity;
    if (this.state.isDisabled(account)) return this.state.probes.keyOf(account) ?? Infinity;
    return this.state.coolingUntil(account);
  }

  /** Accounts usable now that the request has not tried, this attempt's account included. */
  private usableUntried(response: AttemptResponse): number {
    const tried = new Set(this.indicesOf(response.tried));
    const own = this.state.indexOf(response.accountId);
    if (own !== undefined) tried.add(own);
    let usable = this.state.usableCount;
    for (const account of tried) if (this.state.isUsable(account)) usable -= 1;
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
