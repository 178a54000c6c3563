/**
 * The Envoy emulator's header mutation rules (envoy.config.common.mutation_rules.v3), in the order
 * of source/extensions/filters/common/mutation_rules/mutation_rules.cc Checker::isAllowed, as
 * MutationUtils::applyHeaderMutations (ext_proc/mutation_utils.cc) applies them to removals and
 * sets alike:
 *   1. no removal of ":" headers or host; 2. disallow_expression; 3. allow_expression;
 *   4. disallow_all; 5. routing headers (host, :authority, :method, :scheme) unless
 *   allow_all_routing; 6. ":" headers: no append, nothing with disallow_system; 7. x-envoy* unless
 *   allow_envoy. Refused changes are ignored and counted, or with disallow_is_error end the request
 *   with status_on_error (Filter::handleErrorResponse).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapVariant, extProcOf } from '../support/envoy-emulator/bootstrap-variant';
import { headerOf, headersResponse, setRaw } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, rotatingKeys, send, withRig } from '../support/emulator-rig';
import type { ProcessorHandlers } from '../support/scripted-processor';

function withRules(rules: Record<string, unknown> | undefined): string {
  return bootstrapVariant((doc) => {
    const ep = extProcOf(doc, 'llm_openai');
    if (rules === undefined) delete ep.mutation_rules;
    else ep.mutation_rules = rules;
  });
}

/** On a 429: remove x-envoy-ratelimited and another x-envoy header, and mark for retry. */
const clearAndMark: ProcessorHandlers = {
  ...rotatingKeys,
  response_headers: (msg) => headersResponse('response_headers', headerOf(msg, ':status') === '429'
    ? { ...MARK_RETRY, remove_headers: ['x-envoy-ratelimited', 'x-envoy-other'] } : {}),
};
const RATE_LIMITED = { status: 429, headers: { 'x-envoy-ratelimited': 'true', 'x-envoy-other': 'kept' } };

describe('Envoy emulator: header mutation rules', () => {
  test("envoy.yaml's rules let keyswitch remove x-envoy-ratelimited, so its marker retries; other x-envoy-* stay", async () => {
    await withRig({ handlers: clearAndMark, script: { 'key-1': RATE_LIMITED } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.equal(upstream.calls.length, 2);
      const first = envoy.lastRequestTrace?.attempts[0];
      const names = first?.filteredResponseHeaders?.map(([k]) => k) ?? [];
      assert.ok(!names.includes('x-envoy-ratelimited'));
      assert.ok(names.includes('x-envoy-other'), 'allow_expression names one header only');
      assert.deepEqual(first?.extProc?.rejectedMutations, ['remove x-envoy-other']);
      assert.match(first?.retry.reason ?? '', /^retriable-headers/);
    });
  });

  test('without mutation_rules the removal is ignored and the response is not retried', async () => {
    await withRig({ handlers: clearAndMark, yaml: withRules(undefined), script: { 'key-1': RATE_LIMITED } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 429);
      assert.equal(upstream.calls.length, 1);
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.rejectedMutations, ['remove x-envoy-ratelimited', 'remove x-envoy-other']);
    });
  });

  test('order: removal guard, then disallow_expression, then allow_expression, then disallow_all', async () => {
    const yaml = withRules({ disallow_all: true, allow_expression: { regex: 'x-allowed|x-envoy-ratelimited|:path' },
      disallow_expression: { regex: 'x-allowed' } });
    const handlers: ProcessorHandlers = {
      request_headers: () => headersResponse('request_headers', {
        remove_headers: [':path'],
        set_headers: [setRaw('x-allowed', '1'), setRaw('x-envoy-ratelimited', '1'), setRaw('x-other', '1'), setRaw(':path', '/p')],
      }),
    };
    await withRig({ handlers, yaml }, async ({ envoy, upstream }) => {
      await send(envoy, '/v1/x');
      const call = upstream.calls[0];
      assert.equal(call?.path, '/p', 'allow_expression comes before the ":" header rules (for sets)');
      assert.equal(call?.headers['x-envoy-ratelimited'], '1', 'allow_expression comes before disallow_all and the x-envoy rule');
      assert.equal(call?.headers['x-allowed'], undefined, 'disallow_expression comes before allow_expression');
      assert.equal(call?.headers['x-other'], undefined, 'disallow_all');
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.rejectedMutations, ['remove :path', 'set x-allowed', 'set x-other']);
    });
  });

  test('order: routing headers, then ":" headers under disallow_system, then x-envoy* under allow_envoy', async () => {
    const yaml = withRules({ allow_all_routing: true, disallow_system: true, allow_envoy: true });
    const handlers: ProcessorHandlers = {
      request_headers: () => headersResponse('request_headers', {
        set_headers: [setRaw(':method', 'PUT'), setRaw(':path', '/p'), setRaw('x-envoy-custom', '1')],
      }),
    };
    await withRig({ handlers, yaml }, async ({ envoy, upstream }) => {
      await send(envoy, '/v1/x', { method: 'POST', body: '{}' });
      const call = upstream.calls[0];
      assert.equal(call?.method, 'POST', 'allow_all_routing passes :method on to the ":" rule, which disallow_system refuses');
      assert.equal(call?.path, '/v1/x');
      assert.equal(call?.headers['x-envoy-custom'], '1');
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.rejectedMutations, ['set :method', 'set :path']);
    });
  });

  test('disallow_is_error: a refused change ends the request with status_on_error', async () => {
    const handlers: ProcessorHandlers = { request_headers: () => headersResponse('request_headers', { set_headers: [setRaw('x-envoy-custom', '1')] }) };
    await withRig({ handlers, yaml: withRules({ disallow_is_error: true }) }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 500);
      assert.equal(upstream.calls.length, 0);
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.extProc?.outcome, 'mutation-error');
      assert.equal(envoy.lastRequestTrace?.final?.details, 'Invalid_attempt_to_modify_x-envoy-custom');
    });
  });
});
