/**
 * The Envoy emulator's retry decision on response headers, in the order of
 * source/common/router/retry_state_impl.cc RetryStateImpl::wouldRetryFromHeaders: an
 * x-envoy-ratelimited response is decided by envoy-ratelimited alone, before status codes and
 * retriable_headers are looked at.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapVariant, routeOf } from '../support/envoy-emulator/bootstrap-variant';
import { headersResponse } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, rotatingKeys, send, withRig } from '../support/emulator-rig';
import type { ProcessorHandlers } from '../support/scripted-processor';

const RATE_LIMITED = { status: 429, headers: { 'x-envoy-ratelimited': 'true' } };
/** Marks every response for retry, leaving x-envoy-ratelimited where it is. */
const markOnly: ProcessorHandlers = { ...rotatingKeys, response_headers: () => headersResponse('response_headers', MARK_RETRY) };

function retryOn(retryOnValue: string, extra: Record<string, unknown> = {}): string {
  return bootstrapVariant((doc) => { Object.assign(routeOf(doc, 'openai').route.retry_policy, { retry_on: retryOnValue, ...extra }); });
}

describe('Envoy emulator: retry decision order (wouldRetryFromHeaders)', () => {
  test('x-envoy-ratelimited ends the decision before retriable_headers: the marker does not retry', async () => {
    await withRig({ handlers: markOnly, script: { 'key-1': RATE_LIMITED } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 429);
      assert.equal(upstream.calls.length, 1);
      const at = envoy.lastRequestTrace?.attempts[0];
      const names = at?.filteredResponseHeaders?.map(([k]) => k) ?? [];
      assert.ok(names.includes('x-keyswitch-failover') && names.includes('x-envoy-ratelimited'), 'both were there when the router decided');
      assert.deepEqual(at?.retry, { decision: 'no-retry', reason: 'x-envoy-ratelimited without envoy-ratelimited' });
    });
  });

  test('x-envoy-ratelimited is checked before retriable-status-codes', async () => {
    const yaml = retryOn('retriable-status-codes', { retriable_status_codes: [429] });
    await withRig({ handlers: rotatingKeys, yaml, script: { 'key-1': RATE_LIMITED, 'key-2': { status: 429 } } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 429);
      assert.equal(upstream.calls.length, 1, 'a 429 in retriable_status_codes, but rate limited by an Envoy upstream');
      upstream.setAnswer('key-1', { status: 429 });
      await send(envoy, '/v1/x');
      assert.deepEqual(envoy.lastRequestTrace?.attempts.map((a) => a.retry.reason).slice(0, 1), ['retriable-status-codes']);
    });
  });

  test('retry_on envoy-ratelimited retries an x-envoy-ratelimited response without any marker', async () => {
    const handlers: ProcessorHandlers = { ...rotatingKeys, response_headers: () => headersResponse('response_headers') };
    await withRig({ handlers, yaml: retryOn('envoy-ratelimited'), script: { 'key-1': RATE_LIMITED } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-1', 'Bearer key-2']);
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.retry.reason, 'envoy-ratelimited');
    });
  });
});
