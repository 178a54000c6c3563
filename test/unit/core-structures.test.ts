/** WeightTree and IndexedMinHeap against brute-force references on random operations. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeightTree } from '../../src/core/fenwick';
import { IndexedMinHeap } from '../../src/core/indexed-heap';
import { mulberry32 } from './core-fixtures';

describe('WeightTree', () => {
  it('matches a plain array on random sets and draws', () => {
    const random = mulberry32(7);
    for (const size of [1, 2, 3, 7, 64, 100]) {
      const tree = new WeightTree(size);
      const reference = new Array<number>(size).fill(0);
      for (let step = 0; step < 2_000; step++) {
        const index = Math.floor(random() * size);
        const weight = random() < 0.3 ? 0 : Math.floor(random() * 1000);
        tree.set(index, weight);
        reference[index] = weight;

        const total = reference.reduce((a, b) => a + b, 0);
        assert.equal(tree.total(), total);
        if (total === 0) {
          assert.equal(tree.sample(random()), -1);
          continue;
        }
        // u in the middle of unit `target` of the cumulative weights draws the index owning it.
        const target = Math.floor(random() * total);
        let expected = 0;
        for (let acc = reference[0]!; acc <= target; acc += reference[expected]!) expected += 1;
        const drawn = tree.sample((target + 0.5) / total);
        assert.equal(drawn, expected, `size ${size} target ${target}`);
        assert.ok(reference[drawn]! > 0, 'never lands on a zero weight');
      }
    }
  });

  it('samples proportionally to weight at the boundaries', () => {
    const tree = new WeightTree(3);
    tree.set(0, 1);
    tree.set(1, 0);
    tree.set(2, 3);
    assert.equal(tree.sample(0), 0);
    assert.equal(tree.sample(0.2499), 0);
    assert.equal(tree.sample(0.25), 2);
    assert.equal(tree.sample(0.9999999999), 2);
    tree.set(0, 0);
    tree.set(2, 0);
    assert.equal(tree.sample(0.5), -1);
  });
});

describe('IndexedMinHeap', () => {
  it('matches a plain map on random set, delete and pop', () => {
    const random = mulberry32(11);
    const capacity = 50;
    const heap = new IndexedMinHeap(capacity);
    const reference = new Map<number, number>();
    const smallest = () => {
      let best = -1;
      for (const [id, key] of reference) {
        const bestKey = reference.get(best);
        if (best === -1 || key < bestKey! || (key === bestKey && id < best)) best = id;
      }
      return best;
    };
    for (let step = 0; step < 5_000; step++) {
      const op = random();
      const id = Math.floor(random() * capacity);
      if (op < 0.5) {
        const key = Math.floor(random() * 100); // small key range: many ties
        heap.set(id, key);
        reference.set(id, key);
      } else if (op < 0.7) {
        heap.delete(id);
        reference.delete(id);
      } else if (op < 0.85) {
        const expected = smallest();
        assert.equal(heap.pop(), expected);
        reference.delete(expected);
      } else {
        // findInOrder visits in (key, id) order: stop at the k-th smallest.
        const k = Math.floor(random() * (reference.size + 1));
        const order = [...reference].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([i]) => i);
        const seen: number[] = [];
        const found = heap.findInOrder((candidate) => {
          seen.push(candidate);
          return seen.length === k;
        });
        assert.deepEqual(seen, k === 0 ? order : order.slice(0, k));
        assert.equal(found, k === 0 || k > order.length ? -1 : order[k - 1]);
      }
      assert.equal(heap.peek(), smallest());
      assert.equal(heap.keyOf(id), reference.get(id));
    }
  });
});
