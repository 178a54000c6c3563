/**
 * The mutable state of one pool, indexed for O(log n) picks: per priority tier a WeightTree of
 * effective weights (0 while an account cools, is disabled or is at its concurrency limit), a
 * heap of cooldown ends per cooldown subject, a heap of probe times per disabled account, and a
 * heap of in-flight load per usable account (neither cooling nor disabled). Cooldowns expire
 * lazily: every entry point calls expire(now) first; there is no timer.
 */
import { WeightTree } from './fenwick';
import { IndexedMinHeap } from './indexed-heap';
import type { CooldownCause, DisableCause } from './decisions';
import type { AccountSpec } from './policy';

/** Weights are resolved to 1/1000 and kept as integers in the tree (see fenwick.ts). */
const WEIGHT_SCALE = 1000;
/** 10^9 units × 10^4 accounts stays far below 2^53, where integer doubles stop being exact. */
const MAX_UNITS = 1e9;

interface Tier {
  readonly priority: number;
  /** Account indices of this tier, in config order; the tree slot is the position here. */
  readonly members: readonly number[];
  readonly tree: WeightTree;
}

/** What cools together: a quota group, or an account that has none. */
interface Subject {
  readonly name: string;
  readonly members: readonly number[];
  /** Member ids, shared by every Cooldown reported for this subject. */
  readonly memberIds: readonly string[];
}

export class PoolState {
  readonly accounts: readonly AccountSpec[];
  readonly tiers: readonly Tier[];
  readonly subjects: readonly Subject[];
  /** Subjects cooling now, keyed by cooldown end (epoch ms). */
  readonly cooldowns: IndexedMinHeap;
  /** Usable accounts (neither cooling nor disabled), keyed by inFlight / weight. */
  readonly load: IndexedMinHeap;
  /** Disabled accounts whose probe is not running, keyed by when it is due (epoch ms). */
  readonly probes: IndexedMinHeap;
  private readonly index = new Map<string, number>();
  private readonly tierOf: Int32Array;
  private readonly slotOf: Int32Array;
  private readonly subjectOf: Int32Array;
  private readonly units: Float64Array;
  private readonly attempts: Int32Array;
  private readonly causes: (CooldownCause | undefined)[];
  /** Per subject: rate limits without reset information in a row. */
  private readonly escalation: Int32Array;
  /** Per account: why it is disabled; undefined while in rotation. */
  private readonly disabledCauses: (DisableCause | undefined)[];
  /** Per account: the wait before its next probe, doubled by each failed probe. */
  private readonly probeWaits: Float64Array;
  private readonly probing: Uint8Array;
  /** Per account: an operator drained it; no new attempts until enabled. */
  private readonly drained: Uint8Array;
  private cooling = 0;
  private usable: number;
  private disabled = 0;

  constructor(accounts: readonly AccountSpec[]) {
    const n = accounts.length;
    this.accounts = accounts;
    this.tierOf = new Int32Array(n);
    this.slotOf = new Int32Array(n);
    this.subjectOf = new Int32Array(n);
    this.units = new Float64Array(n);
    this.attempts = new Int32Array(n);
    this.load = new IndexedMinHeap(n);
    this.probes = new IndexedMinHeap(n);
    this.disabledCauses = new Array<DisableCause | undefined>(n);
    this.probeWaits = new Float64Array(n);
    this.probing = new Uint8Array(n);
    this.drained = new Uint8Array(n);
    this.usable = n;

    const byPriority = new Map<number, number[]>();
    const groupSubject = new Map<string, number>();
    const subjects: { name: string; members: number[] }[] = [];
    accounts.forEach((account, i) => {
      this.index.set(account.id, i);
      this.units[i] = Math.min(MAX_UNITS, Math.max(1, Math.round(account.weight * WEIGHT_SCALE)));
      push(byPriority, account.priority, i);
      if (account.quotaGroup === undefined) {
        this.subjectOf[i] = subjects.length;
        subjects.push({ name: account.id, members: [i] });
      } else {
        let subject = groupSubject.get(account.quotaGroup);
        if (subject === undefined) {
          subject = subjects.length;
          groupSubject.set(account.quotaGroup, subject);
          subjects.push({ name: account.quotaGroup, members: [] });
        }
        this.subjectOf[i] = subject;
        subjects[subject]!.members.push(i);
      }
    });
    this.subjects = subjects.map((s) => ({
      name: s.name,
      members: s.members,
      memberIds: Object.freeze(s.members.map((i) => accounts[i]!.id)),
    }));
    this.cooldowns = new IndexedMinHeap(subjects.length);
    this.causes = new Array<CooldownCause | undefined>(subjects.length);
    this.escalation = new Int32Array(subjects.length);

    this.tiers = [...byPriority.keys()]
      .sort((a, b) => a - b)
      .map((priority, t) => {
        const members = byPriority.get(priority)!;
        const tree = new WeightTree(members.length);
        members.forEach((i, slot) => {
          this.tierOf[i] = t;
          this.slotOf[i] = slot;
          tree.set(slot, this.units[i]!);
        });
        return { priority, members, tree };
      });
    for (let i = 0; i < n; i++) this.load.set(i, 0);
  }

  get size(): number {
    return this.accounts.length;
  }

  /** Accounts cooling now (valid after expire). */
  get coolingCount(): number {
    return this.cooling;
  }

  /** Accounts neither cooling nor disabled (valid after expire). */
  get usableCount(): number {
    return this.usable;
  }

  get disabledCount(): number {
    return this.disabled;
  }

  indexOf(accountId: string): number | undefined {
    return this.index.get(accountId);
  }

  idOf(account: number): string {
    return this.accounts[account]!.id;
  }

  tierIndexOf(account: number): number {
    return this.tierOf[account]!;
  }

  slotIn(account: number): number {
    return this.slotOf[account]!;
  }

  subjectIndexOf(account: number): number {
    return this.subjectOf[account]!;
  }

  inFlight(account: number): number {
    return this.attempts[account]!;
  }

  /** True when a's inFlight/weight is strictly below b's (compared without dividing). */
  lessLoaded(a: number, b: number): boolean {
    return this.attempts[a]! * this.accounts[b]!.weight < this.attempts[b]! * this.accounts[a]!.weight;
  }

  /** Cooldown end of the account's subject, or undefined when not cooling (valid after expire). */
  coolingUntil(account: number): number | undefined {
    return this.cooldowns.keyOf(this.subjectOf[account]!);
  }

  isCooling(account: number): boolean {
    return this.cooldowns.has(this.subjectOf[account]!);
  }

  isSaturated(account: number): boolean {
    const limit = this.accounts[account]!.maxConcurrency;
    return limit !== undefined && this.attempts[account]! >= limit;
  }

  isDisabled(account: number): boolean {
    return this.disabledCauses[account] !== undefined;
  }

  disabledCauseOf(account: number): DisableCause | undefined {
    return this.disabledCauses[account];
  }

  isProbing(account: number): boolean {
    return this.probing[account] === 1;
  }

  isDrained(account: number): boolean {
    return this.drained[account] === 1;
  }

  /** Out of rotation whatever its cooldown: disabled by a fault or drained by an operator. */
  isOut(account: number): boolean {
    return this.isDisabled(account) || this.isDrained(account);
  }

  /** Neither cooling, disabled nor drained; it may still be at its concurrency limit. */
  isUsable(account: number): boolean {
    return !this.isCooling(account) && !this.isOut(account);
  }

  isEligible(account: number): boolean {
    return this.isUsable(account) && !this.isSaturated(account);
  }

  escalationOf(subject: number): number {
    return this.escalation[subject]!;
  }

  causeOf(subject: number): CooldownCause | undefined {
    return this.causes[subject];
  }

  /** Ends every cooldown whose end is at or before `now`; O(log n) per ended member. */
  expire(now: number): void {
    for (;;) {
      const subject = this.cooldowns.peek();
      if (subject === -1 || this.cooldowns.keyOf(subject)! > now) return;
      this.endCooldown(subject);
    }
  }

  /** Ends the subject's cooldown now, if it has one: expiry, or an operator clearing it. */
  endCooldown(subject: number): void {
    if (!this.cooldowns.has(subject)) return;
    this.cooldowns.delete(subject);
    this.causes[subject] = undefined;
    for (const account of this.subjects[subject]!.members) {
      this.cooling -= 1;
      if (!this.isOut(account)) this.usable += 1;
      this.refresh(account);
      this.syncLoad(account);
    }
  }

  /**
   * Cools `subject` until `until`, extend-only: an end earlier than the current one is ignored.
   * An end at or before `now` starts nothing. Starting costs O(k log n) for k members. Returns
   * whether a cooldown started (the subject was not cooling).
   */
  cool(subject: number, until: number, cause: CooldownCause, now: number): boolean {
    if (until <= now) return false;
    const current = this.cooldowns.keyOf(subject);
    if (current !== undefined) {
      if (until > current) {
        this.cooldowns.set(subject, until);
        this.causes[subject] = cause;
      }
      return false;
    }
    this.cooldowns.set(subject, until);
    this.causes[subject] = cause;
    for (const account of this.subjects[subject]!.members) {
      this.cooling += 1;
      if (!this.isOut(account)) this.usable -= 1;
      this.refresh(account);
      this.load.delete(account);
    }
    return true;
  }

  /**
   * Escalation of a rate limit with no reset information: the level before this response, and
   * whether this response raises it. A subject already cooling was escalated by a concurrent
   * attempt's response, so a second answer from the same burst does not count twice.
   */
  escalate(subject: number): number {
    const level = this.escalation[subject]!;
    if (this.cooldowns.has(subject)) return Math.max(0, level - 1);
    this.escalation[subject] = level + 1;
    return level;
  }

  /** Keeps the higher of the current and the given level (a reload merging quota groups). */
  raiseEscalation(subject: number, level: number): void {
    this.escalation[subject] = Math.max(this.escalation[subject]!, level);
  }

  resetEscalation(subject: number): void {
    this.escalation[subject] = 0;
  }

  /** Takes the account out of rotation until `probeAt`; the probe wait starts at `waitMs`. */
  disable(account: number, cause: DisableCause, probeAt: number, waitMs: number): void {
    if (!this.isDisabled(account)) {
      this.disabled += 1;
      if (!this.isCooling(account) && !this.isDrained(account)) this.usable -= 1;
    }
    this.disabledCauses[account] = cause;
    this.probeWaits[account] = waitMs;
    this.probing[account] = 0;
    this.probes.set(account, probeAt);
    this.refresh(account);
    this.syncLoad(account);
  }

  probeWaitOf(account: number): number {
    return this.probeWaits[account]!;
  }

  /** The account's probe is under way: no other attempt may probe it until it ends. */
  startProbe(account: number): void {
    this.probing[account] = 1;
    this.probes.delete(account);
  }

  /** The probe attempt ended without an answer: the probe is due again at `at`. */
  abandonProbe(account: number, at: number): void {
    if (!this.isProbing(account)) return;
    this.probing[account] = 0;
    this.probes.set(account, at);
  }

  /** Back in rotation. */
  enable(account: number): void {
    if (!this.isDisabled(account)) return;
    this.disabled -= 1;
    if (!this.isCooling(account) && !this.isDrained(account)) this.usable += 1;
    this.disabledCauses[account] = undefined;
    this.probing[account] = 0;
    this.probes.delete(account);
    this.refresh(account);
    this.syncLoad(account);
  }

  /** One more attempt in flight on `account`. */
  acquire(account: number): void {
    this.attempts[account]! += 1;
    this.afterLoadChange(account);
  }

  /** One attempt on `account` is over; never goes below zero. */
  release(account: number): void {
    if (this.attempts[account]! === 0) return;
    this.attempts[account]! -= 1;
    this.afterLoadChange(account);
  }

  /** Sets the account's weight in its tier tree: full when eligible, 0 otherwise. */
  refresh(account: number): void {
    const tree = this.tiers[this.tierOf[account]!]!.tree;
    tree.set(this.slotOf[account]!, this.isEligible(account) ? this.units[account]! : 0);
  }

  /** An operator drains the account (no new attempts) or puts it back. */
  setDrained(account: number, drained: boolean): void {
    if (this.isDrained(account) === drained) return;
    this.drained[account] = drained ? 1 : 0;
    if (!this.isCooling(account) && !this.isDisabled(account)) this.usable += drained ? -1 : 1;
    this.refresh(account);
    this.syncLoad(account);
  }

  private afterLoadChange(account: number): void {
    if (this.accounts[account]!.maxConcurrency !== undefined) this.refresh(account);
    if (this.load.has(account)) this.load.set(account, this.loadKey(account));
  }

  /** The load heap holds exactly the usable accounts. */
  private syncLoad(account: number): void {
    if (this.isUsable(account)) this.load.set(account, this.loadKey(account));
    else this.load.delete(account);
  }

  private loadKey(account: number): number {
    return this.attempts[account]! / this.accounts[account]!.weight;
  }
}

function push<K>(map: Map<K, number[]>, key: K, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
