/**
 * The Envoy emulator's response bodies held in the upstream ext_proc filter: a mode_override in
 * the response_headers reply asks for response_body_mode BUFFERED / BUFFERED_PARTIAL (ext_proc.cc
 * Filter::onReceiveMessage, allow_mode_override), the filter keeps the response headers until the
 * response_body reply (processor_state.cc handleHeadersResponse), that reply's header_mutation
 * applies to them (handleBufferedBodyCallback / handleBufferedPartialBodyCallback), and only then
 * does the router decide on a retry. Details and limits: envoy-emulator/response-body.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapVariant, extProcOf } from '../support/envoy-emulator/bootstrap-variant';
import { bodyOf, bodyResponse, headerOf, headersResponse, kindOf, modeOverride, setRaw } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, rotatingKeys, send, withRig } from '../support/emulator-rig';
import type { ProcessorHandlers } from '../support/scripted-processor';

/** keyswitch-like error-body classification: ask for the body of a 429, retry when it says rate_limit. */
function classifyBody(mode: 'BUFFERED' | 'BUFFERED_PARTIAL'): ProcessorHandlers {
  return {
    ...rotatingKeys,
    response_headers: (msg) => headersResponse('response_headers', {},
      headerOf(msg, ':status') === '429' ? modeOverride({ response_body_mode: mode }) : {}),
    response_body: (msg) => bodyResponse('response_body', bodyOf(msg)?.body.toString().includes('rate_limit') ? MARK_RETRY : {}),
  };
}

/** Arrives over 240ms: longer than envoy.yaml's 200ms message_timeout. */
const SLOW_ERROR_BODY = { status: 429, chunks: ['{"error":', '{"type":"rate_limit_error",', '"message":"slow down"}}'], chunkDelayMs: 120 };

function variant(edit: (ep: Record<string, unknown>, doc: Record<string, any>) => void): string {
  return bootstrapVariant((doc) => edit(extProcOf(doc, 'llm_openai'), doc));
}

describe('Envoy emulator: response bodies held for ext_proc', () => {
  test('BUFFERED via mode_override: one response_body, its marker reaches the retry decision; no message_timeout while the body arrives', async () => {
    await withRig({ handlers: classifyBody('BUFFERED'), script: { 'key-1': SLOW_ERROR_BODY } },
      async ({ envoy, upstream, processor }) => {
        const res = await send(envoy, '/v1/x');
        assert.equal(res.status, 200);
        assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-1', 'Bearer key-2']);
        const stream = processor.streams[0];
        assert.deepEqual(stream?.messages.map(kindOf), ['request_headers', 'response_headers', 'response_body']);
        assert.deepEqual(bodyOf(stream!.messages[2]!), { body: Buffer.from(SLOW_ERROR_BODY.chunks.join('')), endOfStream: true });
        const first = envoy.lastRequestTrace?.attempts[0];
        assert.ok(first?.filteredResponseHeaders?.some(([k]) => k === 'x-keyswitch-failover'), 'the response_body reply marked the held headers');
        assert.equal(first?.retry.decision, 'retry');
        assert.deepEqual(first?.extProc?.events, ['mode_override applied (response_body_mode BUFFERED)', 'half-close-then-cancel (retry)']);
        assert.equal(envoy.stats.get('ext_proc.message_timeouts'), 0, 'the body took 240ms, message_timeout is 200ms');
        assert.deepEqual(processor.streams[1]?.messages.map(kindOf), ['request_headers', 'response_headers']);
      });
  });

  test('without allow_mode_override the mode_override is ignored', async () => {
    const yaml = variant((ep) => { ep['allow_mode_override'] = false; });
    await withRig({ handlers: classifyBody('BUFFERED'), yaml, script: { 'key-1': SLOW_ERROR_BODY } }, async ({ envoy, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 429);
      assert.deepEqual(processor.streams[0]?.messages.map(kindOf), ['request_headers', 'response_headers']);
      assert.equal(envoy.lastRequestTrace?.attempts.length, 1);
    });
  });

  test('allowed_override_modes: the effective override (DEFAULT = configured mode) must equal an entry', async () => {
    const yaml = variant((ep) => {
      ep['allowed_override_modes'] = [{ request_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_header_mode: 'SEND',
        response_body_mode: 'BUFFERED', response_trailer_mode: 'SKIP' }];
    });
    await withRig({ handlers: classifyBody('BUFFERED'), yaml, script: { 'key-1': SLOW_ERROR_BODY } }, async ({ envoy, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200, 'BUFFERED is allowed');
      processor.setHandlers(classifyBody('BUFFERED_PARTIAL'));
      assert.equal((await send(envoy, '/v1/x')).status, 429, 'BUFFERED_PARTIAL is not');
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.events.slice(0, 1), ['mode_override disallowed by allowed_override_modes']);
      assert.deepEqual(processor.streams.at(-1)?.messages.map(kindOf), ['request_headers', 'response_headers']);
    });
  });

  test('BUFFERED body over the buffer limit: 500 response_payload_too_large, never retried', async () => {
    const yaml = bootstrapVariant((doc) => { doc.static_resources.listeners[0].per_connection_buffer_limit_bytes = 1024; });
    const script = { 'key-1': { status: 429, chunks: ['rate_limit', 'x'.repeat(600), 'x'.repeat(600)] } };
    await withRig({ handlers: classifyBody('BUFFERED'), yaml, script }, async ({ envoy, upstream, processor }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 500);
      assert.equal(res.body, 'Internal Server Error');
      assert.equal(upstream.calls.length, 1);
      assert.equal(envoy.lastRequestTrace?.final?.details, 'response_payload_too_large');
      assert.deepEqual(processor.streams[0]?.messages.map(kindOf), ['request_headers', 'response_headers']);
    });
  });

  test('BUFFERED_PARTIAL over the limit: what arrived goes out with end_of_stream false; the reply still marks the held headers', async () => {
    const yaml = bootstrapVariant((doc) => { doc.static_resources.listeners[0].per_connection_buffer_limit_bytes = 1024; });
    const script = { 'key-1': { status: 429, chunks: ['rate_limit', 'x'.repeat(600), 'x'.repeat(600), 'tail'] } };
    await withRig({ handlers: classifyBody('BUFFERED_PARTIAL'), yaml, script }, async ({ envoy, upstream, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.equal(upstream.calls.length, 2);
      const sent = bodyOf(processor.streams[0]!.messages[2]!);
      assert.equal(sent?.endOfStream, false);
      assert.equal(sent?.body.length, 'rate_limit'.length + 1200, 'the queue went over 1024 bytes with the third chunk');
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.retry.decision, 'retry');
    });
  });

  test('BUFFERED_PARTIAL under the limit and a final response: the reply mutates headers, the body reaches the client', async () => {
    const handlers: ProcessorHandlers = {
      ...rotatingKeys,
      response_headers: () => headersResponse('response_headers', {}, modeOverride({ response_body_mode: 'BUFFERED_PARTIAL' })),
      response_body: (msg) => bodyResponse('response_body', { set_headers: [setRaw('x-body-bytes', String(bodyOf(msg)?.body.length))] }),
    };
    await withRig({ handlers, script: { 'key-1': { status: 200, chunks: ['{"ok":', 'true}'] } } }, async ({ envoy, processor }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.body, '{"ok":true}');
      assert.equal(res.headers['x-body-bytes'], '11');
      assert.equal(bodyOf(processor.streams[0]!.messages[2]!)?.endOfStream, true);
    });
  });

  test('a BUFFERED body mutation must match content-length (validateContentLength), else status_on_error', async () => {
    const handlers: ProcessorHandlers = {
      ...classifyBody('BUFFERED'),
      response_body: () => bodyResponse('response_body', {}, { body_mutation: { body: Buffer.from('short') } }),
    };
    await withRig({ handlers, script: { 'key-1': SLOW_ERROR_BODY } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 500);
      assert.equal(upstream.calls.length, 1);
      assert.equal(envoy.lastRequestTrace?.final?.details, 'mismatch_between_content_length_and_the_length_of_the_mutated_body');
    });
  });
});
