/**
 * A Fenwick (binary indexed) tree of non-negative integer weights with weighted sampling.
 *
 * Every operation is O(log n). Weights are kept as integers (exact in a double up to 2^53) so
 * that adding and removing the same weight a million times leaves the total exactly where it
 * was: with fractional weights the tree drifts, and a "zero" total that is really 1e-13 would
 * let a draw land on an account whose weight is zero.
 */
export class WeightTree {
  private readonly tree: Float64Array;
  private readonly values: Float64Array;
  private readonly topStep: number;
  private sum = 0;

  constructor(readonly size: number) {
    this.tree = new Float64Array(size + 1);
    this.values = new Float64Array(size);
    let step = 1;
    while (step * 2 <= size) step *= 2;
    this.topStep = size === 0 ? 0 : step;
  }

  /** Current weight at `index` (0-based). */
  get(index: number): number {
    return this.values[index] ?? 0;
  }

  /** Sum of all weights. */
  total(): number {
    return this.sum;
  }

  /** Replaces the weight at `index`; `weight` must be a non-negative integer. */
  set(index: number, weight: number): void {
    const delta = weight - this.values[index]!;
    if (delta === 0) return;
    this.values[index] = weight;
    this.sum += delta;
    for (let i = index + 1; i <= this.size; i += i & -i) this.tree[i]! += delta;
  }

  /**
   * The index whose cumulative range [sum of weights before i, that + weight(i)) holds `target`, for an
   * integer 0 <= target < total(). An index of weight zero owns an empty range, so it is never
   * returned. Returns -1 when the tree is empty of weight.
   */
  private find(target: number): number {
    if (this.sum <= 0 || target < 0 || target >= this.sum) return -1;
    let position = 0;
    let remaining = target;
    for (let step = this.topStep; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= this.size && this.tree[next]! <= remaining) {
        position = next;
        remaining -= this.tree[next]!;
      }
    }
    return position; // 1-based `position` is the last index whose prefix <= target; 0-based next.
  }

  /** Draws an index with probability proportional to its weight; `u` is uniform in [0, 1). */
  sample(u: number): number {
    if (this.sum <= 0) return -1;
    const target = Math.min(Math.floor(u * this.sum), this.sum - 1);
    return this.find(target);
  }
}
