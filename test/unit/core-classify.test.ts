/** classifyResponse and classifyBody: one table each. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyBody, classifyResponse } from '../../src/core/classify';
import type { BodyClass, BodyRule } from '../../src/core/policy';
import { BUILTIN_BODY_RULES } from '../../src/config';
import { account, pool } from './core-fixtures';

describe('classifyResponse', () => {
  const policy = pool([account('a')], {
    failoverStatuses: new Set([429, 503, 529]),
    health: { disableOn: new Set([401, 402, 403]), probeAfterMs: 1, probeMaxMs: 2, maxDisabledFraction: 0.5 },
  });
  const table: ReadonlyArray<[number, BodyClass | undefined, string]> = [
    [200, undefined, 'success'],
    [204, undefined, 'success'],
    [304, undefined, 'success'],
    [429, undefined, 'rate-limit'],
    [529, undefined, 'overload'],
    [503, undefined, 'overload'],
    [401, undefined, 'account-fault'],
    [403, undefined, 'account-fault'],
    [402, undefined, 'billing'],
    [400, undefined, 'other'],
    [404, undefined, 'other'],
    [500, undefined, 'other'],
    [429, 'billing', 'billing'],
    [400, 'billing', 'billing'],
    [429, 'request', 'request'],
    [400, 'rate-limit', 'rate-limit'],
    [500, 'overload', 'overload'],
  ];
  for (const [status, bodyClass, expected] of table) {
    it(`${status}${bodyClass ? ` with a ${bodyClass} body` : ''} is ${expected}`, () => {
      assert.equal(classifyResponse(status, policy, bodyClass), expected);
    });
  }

  it('a 402 outside disableOn passes through; 529 outside the failover list too', () => {
    const plain = pool([account('a')], { failoverStatuses: new Set([429]) });
    assert.equal(classifyResponse(402, plain), 'other');
    assert.equal(classifyResponse(529, plain), 'other');
  });
});

describe('classifyBody with the shipped rules', () => {
  const table: ReadonlyArray<[number, string, BodyClass | undefined]> = [
    [429, '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}', 'billing'],
    [429, '{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}', undefined],
    [400, '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}', 'billing'],
    [400, '{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits."}}', 'billing'],
    [402, '{"type":"error","error":{"type":"billing_error","message":"payment"}}', 'billing'],
    [402, 'not json at all', 'billing'],
    [400, '{"error":{"type":"invalid_request_error","message":"prompt is too long"}}', undefined],
    [429, 'insufficient_quota but not JSON', undefined],
    [500, '{"error":{"code":"insufficient_quota"}}', undefined],
  ];
  for (const [status, body, expected] of table) {
    it(`${status} ${body.slice(0, 50)} → ${expected ?? 'no rule'}`, () => {
      assert.equal(classifyBody(status, body, BUILTIN_BODY_RULES), expected);
    });
  }

  it('the first matching rule wins; path values may be numbers; a missing path does not match', () => {
    const rules: BodyRule[] = [
      { statuses: new Set([429]), path: ['error', 'code'], equals: '42', class: 'request' },
      { statuses: new Set([429]), path: ['error', 'message'], contains: 'SLOW DOWN', class: 'overload' },
      { statuses: new Set([429]), contains: 'quota', class: 'billing' },
    ];
    assert.equal(classifyBody(429, '{"error":{"code":42,"message":"quota"}}', rules), 'request');
    assert.equal(classifyBody(429, '{"error":{"message":"please slow down"}}', rules), 'overload');
    assert.equal(classifyBody(429, '{"error":{"detail":"quota"}}', rules), 'billing');
    assert.equal(classifyBody(429, '{"error":"flat"}', rules.slice(0, 2)), undefined);
  });
});
