/** Milliseconds since the Unix epoch. The core never reads the wall clock itself. */
export interface Clock {
  now(): number;
}

/** A uniform random number in [0, 1). Injected so tests can make jitter and spreading exact. */
export type Random = () => number;

export const systemClock: Clock = { now: () => Date.now() };
