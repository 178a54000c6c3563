import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headroomResetAt, resetAtFromHeaders } from '../../src/core/reset-headers';
import { headers, T0 } from './core-fixtures';

const MAX = 7 * 24 * 3_600_000; // no clamp unless a case says so
const iso = (ms: number) => new Date(ms).toISOString();
const epoch = (ms: number) => String(ms / 1000);

describe('resetAtFromHeaders: every form', () => {
  const cases: [string, Record<string, string>, number | undefined][] = [
    ['retry-after integer seconds', { 'retry-after': '30' }, T0 + 30_000],
    ['retry-after decimal seconds', { 'retry-after': '1.5' }, T0 + 1_500],
    ['retry-after with spaces', { 'retry-after': ' 20 ' }, T0 + 20_000],
    ['retry-after IMF-fixdate', { 'retry-after': 'Thu, 21 Aug 2025 12:01:00 GMT' }, T0 + 60_000],
    ['retry-after RFC 850 date', { 'retry-after': 'Thursday, 21-Aug-25 12:02:00 GMT' }, T0 + 120_000],
    ['retry-after asctime date', { 'retry-after': 'Thu Aug 21 12:03:00 2025' }, T0 + 180_000],
    ['retry-after-ms', { 'retry-after-ms': '250' }, T0 + 250],
    ['retry-after-ms decimal', { 'retry-after-ms': '12.5' }, T0 + 12.5],
    ['x-ms-retry-after-ms (Azure)', { 'x-ms-retry-after-ms': '900' }, T0 + 900],
    ['x-ratelimit-reset-requests Go ms', { 'x-ratelimit-reset-requests': '20ms' }, T0 + 20],
    ['x-ratelimit-reset-requests Go s', { 'x-ratelimit-reset-requests': '1s' }, T0 + 1_000],
    ['x-ratelimit-reset-tokens 6m0s', { 'x-ratelimit-reset-tokens': '6m0s' }, T0 + 360_000],
    ['x-ratelimit-reset-tokens 1h2m3.5s', { 'x-ratelimit-reset-tokens': '1h2m3.5s' }, T0 + 3_723_500],
    ['x-ratelimit-reset-tokens bare seconds', { 'x-ratelimit-reset-tokens': '7' }, T0 + 7_000],
    ['anthropic requests reset RFC 3339', { 'anthropic-ratelimit-requests-reset': '2025-08-21T12:00:40Z' }, T0 + 40_000],
    ['anthropic tokens reset with offset', { 'anthropic-ratelimit-tokens-reset': '2025-08-21T14:00:41+02:00' }, T0 + 41_000],
    ['anthropic input-tokens reset fraction', { 'anthropic-ratelimit-input-tokens-reset': '2025-08-21T12:00:42.250Z' }, T0 + 42_250],
    ['anthropic output-tokens reset', { 'anthropic-ratelimit-output-tokens-reset': iso(T0 + 43_000) }, T0 + 43_000],
    ['anthropic unified reset epoch s', { 'anthropic-ratelimit-unified-reset': epoch(T0 + 2_094_000) }, T0 + 2_094_000],
    ['anthropic unified 5h reset', { 'anthropic-ratelimit-unified-5h-reset': epoch(T0 + 3_600_000) }, T0 + 3_600_000],
    ['anthropic unified 7d reset', { 'anthropic-ratelimit-unified-7d-reset': epoch(T0 + 86_400_000) }, T0 + 86_400_000],
    ['codex primary reset-after-seconds', { 'x-codex-primary-reset-after-seconds': '600' }, T0 + 600_000],
    ['codex secondary reset-after-seconds', { 'x-codex-secondary-reset-after-seconds': '7200' }, T0 + 7_200_000],
    ['no header at all', {}, undefined],
  ];
  for (const [name, values, expected] of cases) {
    it(name, () => assert.equal(resetAtFromHeaders(headers(values), T0, MAX), expected));
  }
});

describe('resetAtFromHeaders: nonsense is ignored value by value', () => {
  const cases: [string, Record<string, string>][] = [
    ['negative seconds', { 'retry-after': '-5' }],
    ['-1 (Azure Responses API)', { 'retry-after-ms': '-1' }],
    ['zero: now is not a future reset', { 'retry-after': '0' }],
    ['unparsable text', { 'retry-after': 'soon' }],
    ['empty value', { 'retry-after': '' }],
    ['Date.parse bait "2"-style date', { 'retry-after': '2 days' }],
    ['HTTP-date in the past', { 'retry-after': 'Wed, 20 Aug 2025 12:00:00 GMT' }],
    ['HTTP-date with a bad month', { 'retry-after': 'Thu, 21 Foo 2025 12:01:00 GMT' }],
    ['absurd: more than 7 days ahead', { 'retry-after': String(8 * 24 * 3600) }],
    ['Go duration garbage', { 'x-ratelimit-reset-requests': '1x' }],
    ['Go duration negative', { 'x-ratelimit-reset-tokens': '-1s' }],
    ['RFC 3339 in the past', { 'anthropic-ratelimit-requests-reset': '2025-08-21T11:59:59Z' }],
    ['RFC 3339 impossible date', { 'anthropic-ratelimit-requests-reset': '2025-02-31T12:00:00Z' }],
    ['RFC 3339 without zone', { 'anthropic-ratelimit-tokens-reset': '2025-08-21T12:00:40' }],
    ['epoch seconds in the past', { 'anthropic-ratelimit-unified-reset': epoch(T0 - 1_000) }],
    ['epoch milliseconds read as seconds: absurd', { 'anthropic-ratelimit-unified-reset': String(T0 + 60_000) }],
    ['codex negative', { 'x-codex-primary-reset-after-seconds': '-1' }],
  ];
  for (const [name, values] of cases) {
    it(name, () => assert.equal(resetAtFromHeaders(headers(values), T0, MAX), undefined));
  }

  it('a nonsense value does not hide a good one', () => {
    const values = { 'retry-after': '-1', 'x-ratelimit-reset-requests': 'garbage', 'retry-after-ms': '1500' };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 1_500);
  });
});

describe('resetAtFromHeaders: the most specific information wins, then the latest reset', () => {
  it('with no exhausted limit and no retry-after, the latest of all limits', () => {
    const values = {
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-reset-tokens': '45s',
      'anthropic-ratelimit-output-tokens-reset': iso(T0 + 20_000),
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 45_000);
  });

  it('retry-after beats the time until every bucket is full again', () => {
    const values = { 'retry-after': '5', 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '45s' };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 5_000);
  });

  it('the latest of retry-after and retry-after-ms', () => {
    assert.equal(resetAtFromHeaders(headers({ 'retry-after': '2', 'retry-after-ms': '3500' }), T0, MAX), T0 + 3_500);
  });

  it('an OpenAI requests-per-minute 429 waits for the requests bucket, not the tokens one', () => {
    const values = {
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-remaining-tokens': '140000',
      'x-ratelimit-reset-tokens': '4m10s',
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 120);
  });

  it('exhausted limits beat retry-after, and the latest exhausted one wins', () => {
    const values = {
      'retry-after': '3',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': iso(T0 + 30_000),
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': iso(T0 + 12_000),
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 30_000);
  });

  it('a burst 429 on a subscription account is not locked until the unified reset', () => {
    const values = {
      'retry-after': '10',
      'anthropic-ratelimit-unified-status': 'allowed',
      'anthropic-ratelimit-unified-reset': epoch(T0 + 3 * 3_600_000),
      'anthropic-ratelimit-unified-5h-status': 'allowed',
      'anthropic-ratelimit-unified-5h-reset': epoch(T0 + 3 * 3_600_000),
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 10_000);
  });

  it('a rejected unified status makes its reset the cooldown', () => {
    const values = {
      'retry-after': '10',
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-reset': epoch(T0 + 2 * 3_600_000),
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 2 * 3_600_000);
  });

  it('clamps to now + maxMs', () => {
    assert.equal(resetAtFromHeaders(headers({ 'retry-after': '7200' }), T0, 600_000), T0 + 600_000);
  });

  it('skips a subscription window whose status says it still allows requests', () => {
    const values = {
      'anthropic-ratelimit-unified-5h-status': 'rejected',
      'anthropic-ratelimit-unified-5h-reset': epoch(T0 + 3_600_000),
      'anthropic-ratelimit-unified-7d-status': 'allowed_warning',
      'anthropic-ratelimit-unified-7d-reset': epoch(T0 + 5 * 86_400_000),
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 3_600_000);
  });

  it('skips a Codex window whose used percent is below 100', () => {
    const values = {
      'x-codex-primary-used-percent': '100',
      'x-codex-primary-reset-after-seconds': '600',
      'x-codex-secondary-used-percent': '42.5',
      'x-codex-secondary-reset-after-seconds': '400000',
    };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 600_000);
  });

  it('keeps both windows when no used percent or status is sent', () => {
    const values = { 'x-codex-primary-reset-after-seconds': '600', 'x-codex-secondary-reset-after-seconds': '9000' };
    assert.equal(resetAtFromHeaders(headers(values), T0, MAX), T0 + 9_000_000);
  });
});

describe('headroomResetAt', () => {
  const cases: [string, Record<string, string>, number | undefined][] = [
    ['OpenAI requests at zero', { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }, T0 + 2_000],
    ['OpenAI tokens at zero', { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }, T0 + 360_000],
    [
      'Anthropic output tokens at zero',
      { 'anthropic-ratelimit-output-tokens-remaining': '0', 'anthropic-ratelimit-output-tokens-reset': iso(T0 + 9_000) },
      T0 + 9_000,
    ],
    [
      'the latest of two exhausted dimensions',
      {
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': iso(T0 + 3_000),
        'anthropic-ratelimit-tokens-remaining': '0',
        'anthropic-ratelimit-tokens-reset': iso(T0 + 8_000),
      },
      T0 + 8_000,
    ],
    [
      'only the exhausted dimension counts',
      {
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-remaining-tokens': '1200',
        'x-ratelimit-reset-tokens': '50s',
      },
      T0 + 1_000,
    ],
    ['remaining above zero', { 'x-ratelimit-remaining-requests': '3', 'x-ratelimit-reset-requests': '2s' }, undefined],
    ['remaining -1 is nonsense, not zero', { 'x-ratelimit-remaining-requests': '-1', 'x-ratelimit-reset-requests': '2s' }, undefined],
    ['zero without a reset header (Azure)', { 'x-ratelimit-remaining-tokens': '0' }, undefined],
    ['zero with a past reset', { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': iso(T0 - 1) }, undefined],
    ['reset without remaining', { 'x-ratelimit-reset-requests': '2s' }, undefined],
  ];
  for (const [name, values, expected] of cases) {
    it(name, () => assert.equal(headroomResetAt(headers(values), T0, MAX), expected));
  }

  it('clamps to now + maxMs', () => {
    const values = { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1h' };
    assert.equal(headroomResetAt(headers(values), T0, 60_000), T0 + 60_000);
  });
});

describe("absolute resets follow the provider's Date, durations do not", () => {
  const behind = new Date(T0 - 60_000).toUTCString(); // the provider's clock is a minute slow
  const ahead = new Date(T0 + 60_000).toUTCString();
  const cases: [string, Record<string, string>, number | undefined][] = [
    ['epoch seconds 45 s after a slow Date', { date: behind, 'anthropic-ratelimit-unified-reset': epoch(T0 - 15_000) }, T0 + 45_000],
    ['RFC 3339 45 s after a slow Date', { date: behind, 'anthropic-ratelimit-requests-reset': iso(T0 - 15_000) }, T0 + 45_000],
    ['HTTP-date retry-after 45 s after a fast Date', { date: ahead, 'retry-after': new Date(T0 + 105_000).toUTCString() }, T0 + 45_000],
    ['a fast Date does not double a reset', { date: ahead, 'anthropic-ratelimit-requests-reset': iso(T0 + 90_000) }, T0 + 30_000],
    ['seconds are not shifted', { date: behind, 'retry-after': '30' }, T0 + 30_000],
    ['Go durations are not shifted', { date: behind, 'x-ratelimit-reset-requests': '10s' }, T0 + 10_000],
    ['an unparsable Date is ignored', { date: 'yesterday', 'anthropic-ratelimit-unified-reset': epoch(T0 + 20_000) }, T0 + 20_000],
    ['a Date days off is ignored', { date: new Date(T0 - 3 * 86_400_000).toUTCString(), 'anthropic-ratelimit-unified-reset': epoch(T0 + 20_000) }, T0 + 20_000],
  ];
  for (const [name, values, expected] of cases) {
    it(name, () => assert.equal(resetAtFromHeaders(headers(values), T0, MAX), expected));
  }
});
