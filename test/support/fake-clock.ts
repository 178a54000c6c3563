import type { Clock, Random } from '../../src/core/clock';

/** A fixed instant, so that absolute reset headers in tests can be written out. */
export const T0 = Date.UTC(2025, 7, 21, 12, 0, 0); // 2025-08-21T12:00:00Z

/** Time that moves only when a test says so: cooldowns are tested without sleeping. */
export class FakeClock implements Clock {
  constructor(public time = T0) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
