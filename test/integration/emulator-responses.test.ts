/**
 * The Envoy emulator's response side: retry decisions, local replies and how ext_proc streams
 * end, over real sockets. Each test encodes one Envoy behaviour and names the Envoy source it
 * comes from.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { bootstrapVariant, extProcOf, routeOf } from '../support/envoy-emulator/bootstrap-variant';
import { headerOf, headersResponse, setRaw } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, rotatingKeys, send, withRig } from '../support/emulator-rig';
import { endOk, fail, type ProcessorHandlers, reply, silence } from '../support/scripted-processor';

describe('Envoy emulator: responses, retries and failures', () => {
  test('retry decision reads the response headers after the filter (retriable_headers)', async () => {
    const handlers: ProcessorHandlers = {
      ...rotatingKeys,
      response_headers: () => headersResponse('response_headers', { remove_headers: ['x-keyswitch-failover'] }),
    };
    await withRig({ handlers, script: { 'key-1': { status: 200, headers: { 'x-keyswitch-failover': 'retry' } } } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 200);
      assert.equal(upstream.calls.length, 1, 'the upstream marker was removed by the filter: no retry');
    });
  });

  // retry_state_impl.cc: retriable_status_codes are compared with the post-filter :status.
  test('retriable_status_codes match the :status the filter wrote', async () => {
    const yaml = bootstrapVariant((doc) => {
      const policy = routeOf(doc, 'openai').route.retry_policy;
      policy.retry_on = 'retriable-status-codes';
      policy.retriable_status_codes = [503];
    });
    const handlers: ProcessorHandlers = {
      ...rotatingKeys,
      response_headers: (msg) => headersResponse('response_headers', { set_headers: [setRaw(':status', headerOf(msg, ':status') === '529' ? '503' : '200')] }),
    };
    await withRig({ handlers, yaml, script: { 'key-1': { status: 529 }, 'key-2': { status: 503 } } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-1', 'Bearer key-2']);
      assert.equal(res.status, 200, "attempt 2's 503 was rewritten to 200: final");
      assert.deepEqual(envoy.lastRequestTrace?.attempts.map((a) => [a.upstreamStatus, a.retry.decision]), [[529, 'retry'], [503, 'no-retry']]);
    });
  });

  // retry_state_impl.cc shouldRetry: num_retries bounds the retries
  // (upstream_rq_retry_limit_exceeded); route finalizeResponseHeaders applies
  // response_headers_to_remove to the final response only.
  test('num_retries bounds the attempts; response_headers_to_remove cleans only the final response', async () => {
    const handlers: ProcessorHandlers = { ...rotatingKeys, response_headers: () => headersResponse('response_headers', { set_headers: [...MARK_RETRY.set_headers, setRaw('x-keyswitch-exhausted', 'true')] }) };
    await withRig({ handlers, script: { 'key-4': { status: 429, headers: { 'retry-after': '7' } } } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(upstream.calls.length, 4, 'num_retries 3 → 4 attempts');
      assert.equal(res.status, 429);
      assert.equal(res.headers['x-keyswitch-failover'], undefined);
      assert.equal(res.headers['x-keyswitch-exhausted'], 'true');
      assert.equal(res.headers['retry-after'], '7');
      const last = envoy.lastRequestTrace?.attempts.at(-1);
      assert.ok(last?.filteredResponseHeaders?.some(([k]) => k === 'x-keyswitch-failover'), 'the marker was there when the router decided');
      assert.match(last?.retry.reason ?? '', /upstream_rq_retry_limit_exceeded/);
      assert.equal(envoy.stats.get('upstream_rq_retry'), 3);
    });
  });

  // ext_proc.cc Filter::onMessageTimeout: fail closed with a 504 local reply.
  test('message_timeout without an answer → 504 local reply, never retried', async () => {
    await withRig({ handlers: { request_headers: () => silence() }, emulator: { messageTimeoutMs: 50 } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 504);
      assert.equal(upstream.calls.length, 0);
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.extProc?.outcome, 'message-timeout');
      assert.equal(envoy.lastRequestTrace?.final?.details, 'ext_proc_error_per-message_timeout_exceeded');
    });
  });

  // ext_proc.cc Filter::onGrpcError with failure_mode_allow false: local reply (status_on_error 500).
  test('gRPC error from the processor → 500 local reply', async () => {
    await withRig({ handlers: { request_headers: () => fail(grpc.status.UNAVAILABLE, 'down') } }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 500);
      assert.equal(upstream.calls.length, 0);
      assert.match(envoy.lastRequestTrace?.final?.details ?? '', /^ext_proc_error_gRPC_error_14/);
    });
  });

  // ext_proc.cc onReceiveMessage: an out-of-order message is spurious; with fail-close
  // (runtime ext_proc_fail_close_spurious_resp) it becomes an error local reply.
  test('mismatched or extra message → treated as an error (fail closed)', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: (msg) => headerOf(msg, 'x-case') === 'mismatch'
        ? headersResponse('response_headers')
        : reply(headersResponse('request_headers'), headersResponse('request_headers')),
    };
    await withRig({ handlers }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x', { headers: { 'x-case': 'mismatch' } })).status, 500);
      assert.equal((await send(envoy, '/v1/x', { headers: { 'x-case': 'extra' } })).status, 500);
      assert.equal(envoy.stats.get('ext_proc.spurious_msgs_received'), 2);
      assert.equal(envoy.traces.every((t) => t.attempts[0]?.extProc?.outcome === 'spurious-message'), true);
      assert.ok(upstream.calls.length <= 1);
    });
  });

  // ext_proc.cc Filter::onGrpcCloseWithStatus: a clean (OK) close means "continue without the
  // processor" — the request goes out without the mutations.
  test('processor closing the stream cleanly before answering → request continues unmodified', async () => {
    await withRig({ handlers: { request_headers: () => endOk() } }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      assert.equal(upstream.calls[0]?.credential, undefined);
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.extProc?.outcome, 'server-closed-early');
    });
  });

  // ext_proc.cc closeGrpcStreamIfLastRespReceived (Envoy >= 1.37) + client_impl.cc close():
  // after the last needed answer the stream is closed (END_STREAM then RST_STREAM).
  test('stream end: closed right after response_headers by default (half-close then cancel)', async () => {
    await withRig({ handlers: rotatingKeys }, async ({ envoy, processor }) => {
      await send(envoy, '/v1/x');
      await processor.waitForFinishedStreams(1);
      const ext = envoy.lastRequestTrace?.attempts[0]?.extProc;
      assert.equal(ext?.end, 'half-closed-then-cancelled');
      assert.deepEqual(ext?.events, ['half-close-then-cancel (last response (response_headers))']);
    });
  });

  test('stream end: cancel right after request_headers when the response phase is SKIP', async () => {
    const yaml = bootstrapVariant((doc) => { extProcOf(doc, 'llm_openai').processing_mode.response_header_mode = 'SKIP'; });
    await withRig({ handlers: rotatingKeys, yaml, emulator: { streamCloseMode: 'cancel' } }, async ({ envoy, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      await processor.waitForFinishedStreams(1);
      // grpc-js servers see a bare RST_STREAM as an end of input followed by 'cancelled'.
      assert.equal(processor.streams[0]?.cancelledByClient, true);
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.events, ['cancel (last response (request_headers))']);
    });
  });

  test('stream end: half-close only lets the server finish the call with OK', async () => {
    await withRig({ handlers: rotatingKeys, emulator: { streamCloseMode: 'half-close' } }, async ({ envoy, processor }) => {
      await send(envoy, '/v1/x');
      await processor.waitForFinishedStreams(1);
      await envoy.extProcIdle();
      // (grpc-js may still report 'cancelled' once the finished HTTP/2 stream closes.)
      assert.deepEqual(processor.streams[0]?.events.slice(0, 2), ['half-close', 'server-end']);
      const ext = envoy.lastRequestTrace?.attempts[0]?.extProc;
      assert.equal(ext?.end, 'half-closed');
      assert.equal(ext?.grpcStatus?.code, grpc.status.OK);
    });
  });

  // router.cc onUpstreamHeaders on retry: the UpstreamRequest is reset and deleted, which destroys
  // its filters (ext_proc Filter::onDestroy → closeStream). Without the close optimization the
  // old stream is still open at that moment.
  test('stream end: without the close optimization, a retry cancels the old stream', async () => {
    await withRig({ handlers: rotatingKeys, script: { 'key-1': { status: 429 } }, emulator: { closeStreamWhenDone: false, streamCloseMode: 'cancel' } },
      async ({ envoy, processor }) => {
        await send(envoy, '/v1/x');
        await processor.waitForFinishedStreams(2);
        assert.deepEqual(envoy.lastRequestTrace?.attempts.map((a) => a.extProc?.events), [['cancel (retry)'], ['cancel (response complete)']]);
        assert.equal(processor.streams[0]?.cancelledByClient, true);
      });
  });

  // upstream_request.cc UpstreamFilterManager::sendLocalReply (honoured since ~1.37, PR #41231):
  // a downstream local reply, final, never retried.
  test('ImmediateResponse → local reply with its status, headers and body; not retried', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: () => ({ immediate_response: { status: { code: 'TooManyRequests' }, body: Buffer.from('no accounts'),
        headers: { set_headers: [setRaw('x-keyswitch-exhausted', 'true')] } } }),
    };
    await withRig({ handlers }, async ({ envoy, upstream }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 429);
      assert.equal(res.body, 'no accounts');
      assert.equal(res.headers['x-keyswitch-exhausted'], 'true');
      assert.equal(upstream.calls.length, 0);
      assert.equal(envoy.lastRequestTrace?.attempts.length, 1);
    });
  });

  // retry_state_impl.cc wouldRetryFromReset: connect-failure / reset-before-request retry a
  // connection that never carried the request; after num_retries the router answers 503.
  test('connect failure is retried up to num_retries, then 503', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    await withRig({ handlers: rotatingKeys, emulator: { clusters: { llm_openai: `http://127.0.0.1:${closedPort}` } } }, async ({ envoy, processor }) => {
      const res = await send(envoy, '/v1/x');
      assert.equal(res.status, 503);
      const attempts = envoy.lastRequestTrace?.attempts ?? [];
      assert.equal(attempts.length, 4);
      assert.ok(attempts.every((a) => a.reset?.startsWith('connect-failure')));
      assert.equal(processor.streams.length, 4, 'each attempt still ran its request_headers exchange');
    });
  });

  // Route table: prefix match + prefix_rewrite (route finalizeRequestHeaders) and the cluster and
  // route names in the xds.* attributes.
  test('prefix route with prefix_rewrite reaches the anthropic cluster', async () => {
    await withRig({ handlers: rotatingKeys }, async ({ envoy, upstream, processor }) => {
      assert.equal((await send(envoy, '/anthropic/v1/messages', { method: 'POST', body: '{}' })).status, 200);
      assert.equal(upstream.calls[0]?.path, '/v1/messages');
      assert.equal(upstream.calls[0]?.headers['host'], 'api.anthropic.com');
      assert.equal(processor.streams[0]?.attributes?.['xds.cluster_name'], 'llm_anthropic');
      assert.equal(processor.streams[0]?.attributes?.['xds.route_name'], 'anthropic');
      assert.equal(headerOf(processor.streams[0]!.messages[0]!, ':path'), '/v1/messages');
    });
  });
});
