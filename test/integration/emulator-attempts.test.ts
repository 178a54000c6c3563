/**
 * The Envoy emulator's attempts that never get a response: connect failures (the pool never got a
 * connection), an upstream that drops the connection, and what an attempt leaves for the next one.
 *  - upstream_request.cc acceptHeadersFromRouter asks the pool for a connection before the upstream
 *    filters run; onPoolFailure → onResetStream → router.cc onUpstreamReset → maybeRetryReset →
 *    retry_state_impl.cc wouldRetryFromReset; the retried UpstreamRequest is deleted, its filters
 *    destroyed (ext_proc.cc Filter::onDestroy closes the Process stream: client_impl.cc close() =
 *    half-close then reset), and a reply arriving later is ignored (processing_complete_).
 *  - router.cc maybeRetryReset: the request counts as started once headers went to the codec, so
 *    reset-before-request covers connect failures only.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapVariant, routeOf } from '../support/envoy-emulator/bootstrap-variant';
import { dynamicMetadata, forwardedMetadataOf, headerOf, headersResponse, kindOf, setRaw } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, attemptOf, rotatingKeys, send, withRig } from '../support/emulator-rig';
import type { AttemptInfo, EnvoyEmulator } from '../support/envoy-emulator';
import type { HandlerContext, ProcessorHandlers } from '../support/scripted-processor';

/** Resolves once `ready()` holds (checked every 5ms). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** request_headers: key-N on attempt N, recorded in keyswitch metadata; attempt 1 first awaits `hold`. */
function keysWithMetadata(hold: (ctx: HandlerContext) => Promise<unknown> = async () => {}): ProcessorHandlers {
  return {
    ...rotatingKeys,
    request_headers: async (_msg, ctx) => {
      const attempt = attemptOf(ctx.stream);
      if (attempt === 1) await hold(ctx);
      return headersResponse('request_headers', { set_headers: [setRaw('authorization', `Bearer key-${attempt}`)] },
        { dynamic_metadata: dynamicMetadata({ keyswitch: { [`attempt-${attempt}`]: `key-${attempt}` } }) });
    },
  };
}

describe('Envoy emulator: attempts without a response', () => {
  test('connection refused while request_headers is outstanding: reset, stream closed, late reply never applied', async () => {
    // The processor holds attempt 1's reply until the stream is over; the refusal comes once it
    // has seen request_headers.
    let seen: () => void = () => {};
    const sawRequestHeaders = new Promise<void>((resolve) => { seen = resolve; });
    const handlers = keysWithMetadata(({ stream }) => { seen(); return stream.finished; });
    const emulator = { failConnect: ({ attempt }: AttemptInfo) => (attempt === 1 ? sawRequestHeaders : undefined) };
    await withRig({ handlers, emulator }, async ({ envoy, upstream, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-2'], 'attempt 1 never reached the provider');
      const [first, second] = envoy.lastRequestTrace?.attempts ?? [];
      assert.match(first?.reset ?? '', /^connect-failure: /);
      assert.deepEqual(first?.retry, { decision: 'retry', reason: 'connect-failure', backOffMs: first?.retry.backOffMs });
      assert.equal(first?.upstreamRequestHeaders, undefined);
      assert.deepEqual(first?.extProc?.events, ['half-close-then-cancel (upstream reset)']);
      assert.deepEqual(processor.streams[0]?.messages.map(kindOf), ['request_headers'], 'no response_headers on a reset attempt');
      assert.equal(processor.streams[0]?.cancelledByClient, true);
      assert.deepEqual(forwardedMetadataOf(processor.streams[1]!.messages[0]!) ?? {}, {}, "attempt 1's late reply was dropped");
      assert.equal(second?.retry.decision, 'no-retry');
    });
  });

  test('connection refused after the request_headers reply: its mutations and metadata reach attempt 2', async () => {
    let emulatorRef: EnvoyEmulator | undefined;
    const replied = (): boolean => (emulatorRef?.lastRequestTrace?.attempts[0]?.extProc?.received.length ?? 0) > 0;
    const emulator = { failConnect: ({ attempt }: AttemptInfo) => (attempt === 1 ? until(replied) : undefined) };
    await withRig({ handlers: keysWithMetadata(), emulator }, async ({ envoy, upstream, processor }) => {
      emulatorRef = envoy;
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.equal(upstream.calls.length, 1);
      assert.deepEqual(processor.streams[0]?.messages.map(kindOf), ['request_headers']);
      const second = processor.streams[1]!.messages[0]!;
      assert.deepEqual(forwardedMetadataOf(second), { keyswitch: { 'attempt-1': 'key-1' } });
      assert.equal(headerOf(second, 'authorization'), 'Bearer key-1', "attempt 1's mutation stays in the shared header map");
    });
  });

  test('an upstream dropping the connection after reading the request: a started reset, not retried by keyswitch\'s policy', async () => {
    const script = { 'key-1': { status: 0, reset: 'before-response' as const } };
    await withRig({ handlers: rotatingKeys, script }, async ({ envoy, upstream, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 503);
      assert.equal(upstream.calls.length, 1);
      const first = envoy.lastRequestTrace?.attempts[0];
      assert.match(first?.reset ?? '', /^reset: /);
      assert.equal(first?.retry.reason, 'no retry policy matched reset (reset)', 'reset-before-request does not cover it');
      assert.deepEqual(processor.streams[0]?.messages.map(kindOf), ['request_headers']);
    });
    const yaml = bootstrapVariant((doc) => { routeOf(doc, 'openai').route.retry_policy.retry_on += ',reset'; });
    await withRig({ handlers: rotatingKeys, script, yaml }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-1', 'Bearer key-2']);
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.retry.reason, 'reset');
    });
  });

  // ext_proc.cc onReceiveMessage kResponseHeaders → setEncoderDynamicMetadata: the encoder
  // callbacks' streamInfo is the downstream request's for an upstream filter (router.ts header).
  test("dynamic metadata from attempt 1's response_headers reply is in attempt 2's metadata_context", async () => {
    const handlers: ProcessorHandlers = {
      ...rotatingKeys,
      response_headers: (msg, { stream }) => headersResponse('response_headers', headerOf(msg, ':status') === '429' ? MARK_RETRY : {},
        { dynamic_metadata: dynamicMetadata({ keyswitch: { [`cooled-${attemptOf(stream)}`]: true } }) }),
    };
    await withRig({ handlers, script: { 'key-1': { status: 429 } } }, async ({ envoy, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.deepEqual(forwardedMetadataOf(processor.streams[1]!.messages[0]!), { keyswitch: { 'cooled-1': true } });
      assert.deepEqual(envoy.lastRequestTrace?.dynamicMetadata, { keyswitch: { 'cooled-1': true, 'cooled-2': true } });
    });
  });
});
