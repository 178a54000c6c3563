import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../src/core/duration';

describe('parseDuration', () => {
  const good: ReadonlyArray<readonly [string, number]> = [
    ['0', 0],
    ['0s', 0],
    ['20ms', 20],
    ['1s', 1_000],
    ['30s', 30_000],
    ['10s', 10_000],
    ['60s', 60_000],
    ['6m0s', 360_000],
    ['6h', 21_600_000],
    ['1h', 3_600_000],
    ['1h2m3.5s', 3_723_500],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1_000],
    ['1500us', 1.5],
    ['1500\u00b5s', 1.5],
    ['1500\u03bcs', 1.5],
    ['2000000ns', 2],
    ['1m30s', 90_000],
    ['1ms', 1],
    ['1m1ms', 60_001],
    ['1s1s', 2_000],
  ];
  for (const [text, ms] of good) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      const got = parseDuration(text);
      assert.ok(got !== undefined, `expected ${ms}, got undefined`);
      assert.ok(Math.abs(got - ms) < 1e-9, `expected ${ms}, got ${got}`);
    });
  }

  const bad = [
    '', ' ', '1', '10', 's', 'ms', '1x', '1 s', ' 1s', '1s ', '-1s', '+1s', '-0s', '1S', '1H', '1.2.3s',
    '.s', '1mss', '1sm', 'abc', '1d', '1w', '1e3s', 'NaNs', 'Infinitys', '1_000s', '0x10s', '１s',
  ];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }

  it('refuses a value too large to be finite', () => {
    assert.equal(parseDuration(`${'9'.repeat(400)}h`), undefined);
  });
});
