/**
 * A binary min-heap over the integer ids 0..capacity-1, each present at most once, whose key can
 * be changed in place. Ties are broken by the lower id so that every order is deterministic.
 *
 * Costs: has/keyOf/peek O(1); set/delete/pop O(log n); memory O(capacity) allocated up front.
 * One entry per id (instead of pushing a new entry whenever a key changes) keeps the heap bounded
 * by the number of ids, however often a cooldown is extended.
 */
export class IndexedMinHeap {
  private readonly heap: Int32Array;
  private readonly position: Int32Array;
  private readonly keys: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    this.heap = new Int32Array(capacity);
    this.position = new Int32Array(capacity).fill(-1);
    this.keys = new Float64Array(capacity);
  }

  has(id: number): boolean {
    return this.position[id] !== -1;
  }

  /** The key of `id`, or undefined when `id` is not in the heap. */
  keyOf(id: number): number | undefined {
    return this.has(id) ? this.keys[id] : undefined;
  }

  /** Id with the smallest key, or -1 when empty. */
  peek(): number {
    return this.count === 0 ? -1 : this.heap[0]!;
  }

  /** Inserts `id` or moves it to its new key. */
  set(id: number, key: number): void {
    const at = this.position[id]!;
    if (at === -1) {
      this.keys[id] = key;
      this.heap[this.count] = id;
      this.position[id] = this.count;
      this.count += 1;
      this.up(this.count - 1);
      return;
    }
    const old = this.keys[id]!;
    this.keys[id] = key;
    if (key < old) this.up(at);
    else if (key > old) this.down(at);
  }

  delete(id: number): void {
    const at = this.position[id]!;
    if (at === -1) return;
    const lastIndex = this.count - 1;
    const last = this.heap[lastIndex]!;
    this.count = lastIndex;
    this.position[id] = -1;
    if (at === lastIndex) return;
    this.heap[at] = last;
    this.position[last] = at;
    this.up(at);
    this.down(this.position[last]!);
  }

  /** Removes and returns the id with the smallest key, or -1 when empty. */
  pop(): number {
    const top = this.peek();
    if (top !== -1) this.delete(top);
    return top;
  }

  /**
   * Visits ids in ascending key order until `visit` returns true; returns that id, or -1.
   * Best-first over the heap array, so stopping after k visits costs O(k log k), not O(n).
   */
  findInOrder(visit: (id: number) => boolean): number {
    if (this.count === 0) return -1;
    const open: number[] = [0]; // heap slots, kept as a binary heap ordered by (key, id)
    while (open.length > 0) {
      const slot = popSlot(open, this);
      const id = this.heap[slot]!;
      if (visit(id)) return id;
      const left = slot * 2 + 1;
      if (left < this.count) pushSlot(open, left, this);
      if (left + 1 < this.count) pushSlot(open, left + 1, this);
    }
    return -1;
  }

  /** Ordering used by the heap and by findInOrder: smaller key first, then smaller id. */
  lessAt(slotA: number, slotB: number): boolean {
    const a = this.heap[slotA]!;
    const b = this.heap[slotB]!;
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka < kb || (ka === kb && a < b);
  }

  private up(at: number): void {
    let child = at;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.lessAt(child, parent)) break;
      this.swap(child, parent);
      child = parent;
    }
  }

  private down(at: number): void {
    let parent = at;
    for (;;) {
      const left = parent * 2 + 1;
      if (left >= this.count) break;
      const right = left + 1;
      const smaller = right < this.count && this.lessAt(right, left) ? right : left;
      if (!this.lessAt(smaller, parent)) break;
      this.swap(parent, smaller);
      parent = smaller;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    this.position[b] = i;
    this.position[a] = j;
  }
}

function pushSlot(open: number[], slot: number, heap: IndexedMinHeap): void {
  open.push(slot);
  let child = open.length - 1;
  while (child > 0) {
    const parent = (child - 1) >> 1;
    if (!heap.lessAt(open[child]!, open[parent]!)) break;
    [open[child], open[parent]] = [open[parent]!, open[child]!];
    child = parent;
  }
}

function popSlot(open: number[], heap: IndexedMinHeap): number {
  const top = open[0]!;
  const last = open.pop()!;
  if (open.length > 0) {
    open[0] = last;
    let parent = 0;
    for (;;) {
      const left = parent * 2 + 1;
      if (left >= open.length) break;
      const right = left + 1;
      const smaller = right < open.length && heap.lessAt(open[right]!, open[left]!) ? right : left;
      if (!heap.lessAt(open[smaller]!, open[parent]!)) break;
      [open[parent], open[smaller]] = [open[smaller]!, open[parent]!];
      parent = smaller;
    }
  }
  return top;
}
