/**
 * Go-style duration strings ("20ms", "1s", "6m0s", "1h2m3.5s"), the form Envoy and most
 * operators already write. Pure: no imports, no clock.
 */

// Longest unit first so that "ms" is never read as "m" followed by garbage.
const UNIT_MS: ReadonlyArray<readonly [string, number]> = [
  ['ns', 1e-6],
  ['us', 1e-3],
  ['\u00b5s', 1e-3], // micro sign, as Go accepts
  ['\u03bcs', 1e-3], // Greek small letter mu, as Go accepts
  ['ms', 1],
  ['s', 1_000],
  ['m', 60_000],
  ['h', 3_600_000],
];

const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)/;

/**
 * Milliseconds for a Go-style duration: one or more number+unit pairs with units
 * ns, us, µs, ms, s, m, h; decimals allowed; "0" alone means zero (as in Go).
 * Returns undefined for anything malformed, empty, signed (negative durations make no sense
 * for cooldowns or TTLs, so "+" and "-" are both refused) or not finite.
 */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  if (text === '0') return 0;
  let rest = text;
  let total = 0;
  while (rest.length > 0) {
    const number = NUMBER.exec(rest);
    if (number === null) return undefined;
    rest = rest.slice(number[0].length);
    const unit = matchUnit(rest);
    if (unit === undefined) return undefined;
    rest = rest.slice(unit[0].length);
    total += Number(number[0]) * unit[1];
  }
  return Number.isFinite(total) ? total : undefined;
}

function matchUnit(rest: string): readonly [string, number] | undefined {
  let best: readonly [string, number] | undefined;
  for (const entry of UNIT_MS) {
    if (rest.startsWith(entry[0]) && (best === undefined || entry[0].length > best[0].length)) best = entry;
  }
  return best;
}
