/**
 * Choosing an account for one attempt, given the pool state. Pure functions over PoolState;
 * the scheduler owns the in-flight bookkeeping and sticky sessions.
 */
import type { PoolState } from './pool-state';
import type { PickReason } from './decisions';
import type { Random } from './clock';

export interface Choice {
  readonly account: number;
  readonly reason: PickReason;
}

/**
 * The best priority tier with an eligible account that the request has not tried; inside it a
 * weighted draw with power-of-two-choices on load: two draws by weight, the second wins only
 * when strictly less loaded (inFlight / weight), so with no load the choice is exactly
 * proportional to weight. Tried accounts are zeroed in the tree for the draw and restored
 * after: O((|tried| + 1) log n) per tier looked at. Returns -1 when no tier has one.
 */
export function drawBalanced(state: PoolState, tried: readonly number[], random: Random): number {
  for (let t = 0; t < state.tiers.length; t++) {
    const tree = state.tiers[t]!.tree;
    if (tree.total() === 0) continue;
    const hidden: number[] = [];
    for (const account of tried) {
      if (state.tierIndexOf(account) !== t) continue;
      const slot = state.slotIn(account);
      const weight = tree.get(slot);
      if (weight === 0) continue;
      hidden.push(slot, weight);
      tree.set(slot, 0);
    }
    let chosen = -1;
    if (tree.total() > 0) {
      const members = state.tiers[t]!.members;
      const first = members[tree.sample(random())]!;
      const second = members[tree.sample(random())]!;
      chosen = state.lessLoaded(second, first) ? second : first;
    }
    for (let h = 0; h < hidden.length; h += 2) tree.set(hidden[h]!, hidden[h + 1]!);
    if (chosen !== -1) return chosen;
  }
  return -1;
}

/**
 * No eligible account: every one is tried, cooling, disabled or at its concurrency limit. Never
 * fails (a pool has at least one account). In order of preference:
 * 1. an untried account that is usable now but at its concurrency limit, least loaded first —
 *    an extra attempt over a local limit beats a certain 429 from an account that is cooling;
 * 2. the untried, not disabled account whose cooldown ends first;
 * 3. every account tried: the one whose cooldown ends first;
 * 4. nothing cooling: the least loaded account, else the disabled account probed soonest (a
 *    disabled key is a certain fault, so only when nothing else exists).
 * Each step walks its heap in order and stops at the first untried account, so the cost is
 * O((|tried| + 1) log n) plus the size of the quota groups skipped.
 */
export function pickExhausted(state: PoolState, tried: ReadonlySet<number>): Choice {
  const saturated = state.load.findInOrder((account) => !tried.has(account));
  if (saturated !== -1) return { account: saturated, reason: 'balanced' };

  let untried = -1;
  state.cooldowns.findInOrder((subject) => {
    untried = firstUntried(state, state.subjects[subject]!.members, tried);
    return untried !== -1;
  });
  if (untried !== -1) return { account: untried, reason: 'earliest-cooldown' };

  const earliest = state.cooldowns.peek();
  if (earliest !== -1) {
    const members = state.subjects[earliest]!.members;
    return { account: members.find((account) => !state.isOut(account)) ?? members[0]!, reason: 'earliest-cooldown' };
  }

  const leastLoaded = state.load.peek();
  if (leastLoaded !== -1) return { account: leastLoaded, reason: 'balanced' };
  const soonestProbe = state.probes.peek();
  return { account: soonestProbe === -1 ? 0 : soonestProbe, reason: 'earliest-cooldown' };
}

function firstUntried(state: PoolState, members: readonly number[], tried: ReadonlySet<number>): number {
  for (const account of members) if (!tried.has(account) && !state.isOut(account)) return account;
  return -1;
}
