/**
 * The Envoy emulator's request side against a scripted ext_proc server and a scripted upstream,
 * over real sockets: what reaches the processor and the upstream on each attempt. Each test
 * encodes one Envoy behaviour and names the Envoy source file it comes from.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapVariant, extProcOf } from '../support/envoy-emulator/bootstrap-variant';
import { attributesOf, bodyResponse, dynamicMetadata, forwardedMetadataOf, headerOf, headersResponse, kindOf, setRaw } from '../support/envoy-emulator/scripting';
import { MARK_RETRY, attemptOf, rotatingKeys, send, withRig } from '../support/emulator-rig';
import type { ProcessorHandlers } from '../support/scripted-processor';

describe('Envoy emulator: requests, attempts and mutations', () => {
  test('reads routes, retry policy and the upstream ext_proc filter from envoy/envoy.yaml', async () => {
    await withRig({ handlers: {} }, async ({ envoy }) => {
      const model = envoy.bootstrap;
      const routes = model.virtualHosts[0]?.routes ?? [];
      assert.deepEqual(routes.map((r) => [r.name, r.match.prefix, r.cluster, r.prefixRewrite]),
        [['anthropic', '/anthropic/', 'llm_anthropic', '/'], ['openai', '/', 'llm_openai', undefined]]);
      const policy = routes[1]?.retryPolicy;
      assert.deepEqual([...(policy?.retryOn ?? [])], ['retriable-headers', 'reset-before-request', 'connect-failure']);
      assert.equal(policy?.numRetries, 3);
      assert.deepEqual(routes[1]?.responseHeadersToRemove, ['x-keyswitch-failover']);
      const extProc = model.clusters.get('llm_openai')?.extProc;
      assert.equal(extProc?.messageTimeoutMs, 200);
      assert.equal(extProc?.failureModeAllow, false);
      assert.deepEqual(extProc?.processingMode, { requestHeaderMode: 'SEND', responseHeaderMode: 'SEND', requestBodyMode: 'NONE',
        responseBodyMode: 'NONE', requestTrailerMode: 'SKIP', responseTrailerMode: 'SKIP' });
      assert.deepEqual(extProc?.forwardingNamespaces, ['keyswitch']);
      assert.deepEqual(extProc?.receivingNamespaces, ['keyswitch']);
      assert.equal(extProc?.mutationRules.allowExpression?.test('x-envoy-ratelimited'), true);
      assert.equal(extProc?.mutationRules.allowExpression?.test('x-envoy-attempt-count'), false);
      assert.equal(extProc?.allowModeOverride, true);
      assert.deepEqual(extProc?.allowedOverrideModes, []);
      assert.equal(model.virtualHosts[0]?.includeRequestAttemptCount, true);
      assert.equal(model.clusters.get('keyswitch')?.extProc, undefined);
    });
  });

  // router.cc Filter::doRetry + upstream_request.cc: every attempt is a new UpstreamRequest with a
  // new upstream filter chain, so a new ext_proc filter and a new Process stream.
  test('a new Process stream per attempt, each starting with request_headers', async () => {
    await withRig({ handlers: rotatingKeys, script: { 'key-1': { status: 429 }, 'key-2': { status: 200, body: { ok: true } } } }, async ({ envoy, upstream, processor }) => {
      const res = await send(envoy, '/v1/chat/completions');
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { ok: true });
      assert.equal(processor.streams.length, 2);
      for (const stream of processor.streams) assert.deepEqual(stream.messages.map(kindOf), ['request_headers', 'response_headers']);
      assert.deepEqual(upstream.calls.map((c) => c.credential), ['Bearer key-1', 'Bearer key-2']);
      assert.deepEqual(envoy.lastRequestTrace?.attempts.map((a) => a.retry.decision), ['retry', 'no-retry']);
    });
  });

  // upstream_request.cc UpstreamRequestFilterManagerCallbacks::requestHeaders returns the router's
  // downstream header map: attempt N+1 starts with attempt N's mutations.
  test('one request-header map shared by all attempts', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: (_msg, { stream }) => attemptOf(stream) === 1
        ? headersResponse('request_headers', { set_headers: [setRaw('authorization', 'Bearer key-1'), setRaw('x-from-attempt-1', 'yes')] })
        : headersResponse('request_headers', { set_headers: [setRaw('x-api-key', 'key-2')], remove_headers: ['authorization', 'x-from-attempt-1'] }),
      response_headers: rotatingKeys.response_headers,
    };
    await withRig({ handlers, script: { 'key-1': { status: 429 } } }, async ({ envoy, upstream, processor }) => {
      assert.equal((await send(envoy, '/v1/x')).status, 200);
      const second = processor.streams[1]?.messages[0];
      assert.ok(second !== undefined);
      assert.equal(headerOf(second, 'authorization'), 'Bearer key-1', 'attempt 2 sees attempt 1 credential');
      assert.equal(headerOf(second, 'x-from-attempt-1'), 'yes');
      assert.equal(upstream.calls[1]?.headers['authorization'], undefined);
      assert.equal(upstream.calls[1]?.headers['x-from-attempt-1'], undefined);
      assert.equal(upstream.calls[1]?.credential, 'key-2');
    });
  });

  // HCM generate_request_id (default true) puts x-request-id in the shared map once; router.cc
  // Filter::decodeHeaders / doRetry set x-envoy-attempt-count (include_request_attempt_count).
  test('x-request-id generated once and identical on every attempt; x-envoy-attempt-count per attempt', async () => {
    await withRig({ handlers: rotatingKeys, script: { 'key-1': { status: 429 }, 'key-2': { status: 429 } } }, async ({ envoy, upstream }) => {
      await send(envoy, '/v1/x');
      const ids = upstream.calls.map((c) => c.headers['x-request-id']);
      assert.equal(ids.length, 3);
      assert.match(ids[0] ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(ids.every((id) => id === ids[0]));
      assert.equal(envoy.lastRequestTrace?.requestId, ids[0]);
      assert.deepEqual(upstream.calls.map((c) => c.headers['x-envoy-attempt-count']), ['1', '2', '3']);
      await send(envoy, '/v1/x', { headers: { 'x-request-id': 'client-id' } });
      assert.equal(upstream.calls.at(-1)?.headers['x-request-id'], 'client-id');
    });
  });

  // ext_proc.cc Filter::addAttributes: request_attributes once per direction, on the first
  // message, under attributes["envoy.filters.http.ext_proc"].
  test('request_attributes on the first message of each stream, as a Struct', async () => {
    await withRig({ handlers: rotatingKeys, script: { 'key-1': { status: 429 } } }, async ({ envoy, processor }) => {
      await send(envoy, '/v1/x');
      const requestId = envoy.lastRequestTrace?.requestId;
      assert.deepEqual(processor.streams.map((s) => s.attributes), [1, 2].map((n) => ({
        'request.id': requestId, 'upstream.request_attempt_count': n, 'xds.route_name': 'openai', 'xds.cluster_name': 'llm_openai' })));
      for (const stream of processor.streams) assert.equal(stream.messages[1] && attributesOf(stream.messages[1]), undefined);
    });
  });

  // ext_proc.cc Filter::setDynamicMetadata (receiving namespaces only; StreamInfo merge) and
  // addDynamicMetadata (forwarding namespaces); the metadata is per downstream request
  // (UpstreamFilterManager::streamInfo is the parent's), so attempt 2 sees attempt 1's writes.
  test('dynamic metadata: receiving namespaces kept and merged, forwarded to the next attempt', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: (_msg, { stream }) => headersResponse('request_headers', {}, attemptOf(stream) === 1
        ? { dynamic_metadata: dynamicMetadata({ keyswitch: { tried: ['a'], pool: 'p' }, elsewhere: { x: 1 } }) }
        : { dynamic_metadata: dynamicMetadata({ keyswitch: { tried: ['a', 'b'] } }) }),
      response_headers: (_msg, { stream }) => headersResponse('response_headers', attemptOf(stream) === 1 ? MARK_RETRY : {}),
    };
    await withRig({ handlers }, async ({ envoy, processor }) => {
      await send(envoy, '/v1/x');
      // forwarding_namespaces configured: metadata_context is always present, here still empty.
      assert.notEqual(processor.streams[0]!.messages[0]!.metadata_context, undefined);
      assert.deepEqual(forwardedMetadataOf(processor.streams[0]!.messages[0]!) ?? {}, {});
      assert.deepEqual(forwardedMetadataOf(processor.streams[1]!.messages[0]!), { keyswitch: { tried: ['a'], pool: 'p' } });
      assert.deepEqual(envoy.lastRequestTrace?.dynamicMetadata, { keyswitch: { tried: ['a', 'b'], pool: 'p' } });
      assert.deepEqual(envoy.lastRequestTrace?.attempts[0]?.extProc?.droppedMetadataNamespaces, ['elsewhere']);
    });
  });

  // mutation_rules.cc Checker::isAllowed: routing headers need allow_all_routing, x-envoy-* needs
  // allow_envoy, ":" headers and host can never be removed; rejected changes are ignored.
  test('header mutation rules: routing, x-envoy-* and pseudo-header removals are ignored', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: () => headersResponse('request_headers', {
        set_headers: ['host', ':authority', ':method', ':scheme', 'x-envoy-custom', 'x-envoy-attempt-count']
          .map((k) => setRaw(k, k === ':scheme' ? 'https' : k === ':method' ? 'DELETE' : 'evil')).concat([setRaw(':path', '/rewritten')]),
        remove_headers: [':path', 'host', ':authority'],
      }),
    };
    await withRig({ handlers }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x', { method: 'POST', body: '{}' })).status, 200);
      const call = upstream.calls[0];
      assert.equal(call?.method, 'POST');
      assert.equal(call?.path, '/rewritten', ':path may be set (not removed)');
      assert.equal(call?.headers['host'], 'api.openai.com', 'auto_host_rewrite, not the filter, decides the host');
      assert.equal(call?.headers['x-envoy-custom'], undefined);
      assert.equal(call?.headers['x-envoy-attempt-count'], '1');
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.extProc?.rejectedMutations.length, 9);
      assert.equal(envoy.stats.get('ext_proc.rejected_header_mutations'), 9);
    });
  });

  // mutation_utils.cc applyHeaderMutations: only raw_value is read (Envoy >= 1.32, PR #35388),
  // so a value-only entry sets an empty header; value AND raw_value is an error → 500.
  test('value-only mutation does not carry its value; value plus raw_value is a 500 local reply', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: (msg) => headerOf(msg, 'x-case') === 'both'
        ? headersResponse('request_headers', { set_headers: [{ header: { key: 'authorization', value: 'Bearer v', raw_value: Buffer.from('Bearer v') } }] })
        : headersResponse('request_headers', { set_headers: [{ header: { key: 'authorization', value: 'Bearer value-only' } }] }),
    };
    await withRig({ handlers }, async ({ envoy, upstream }) => {
      assert.equal((await send(envoy, '/v1/x', { headers: { 'x-case': 'value', authorization: 'Bearer client' } })).status, 200);
      assert.equal(upstream.calls[0]?.headers['authorization'], '');
      const both = await send(envoy, '/v1/x', { headers: { 'x-case': 'both' } });
      assert.equal(both.status, 500);
      assert.equal(upstream.calls.length, 1, 'the failed request never reached the upstream');
      assert.equal(envoy.lastRequestTrace?.attempts[0]?.extProc?.outcome, 'mutation-error');
    });
  });

  // mutation_utils.cc: PROTOBUF_GET_WRAPPED_OR_DEFAULT(sh, append, false) → setCopy vs addCopy;
  // append_action is never consulted (issue #36982).
  test('append unset/false overwrites, append true adds, append_action is ignored', async () => {
    const handlers: ProcessorHandlers = {
      request_headers: () => headersResponse('request_headers', { set_headers: [
        setRaw('x-over', 'filter'),
        setRaw('x-add', 'filter', { append: { value: true } }),
        setRaw('x-action', 'filter', { append_action: 'APPEND_IF_EXISTS_OR_ADD' }),
      ] }),
    };
    await withRig({ handlers }, async ({ envoy, upstream }) => {
      await send(envoy, '/v1/x', { headers: { 'x-over': 'client', 'x-add': 'client', 'x-action': 'client' } });
      const raw = upstream.calls[0]?.rawHeaders ?? [];
      const values = (name: string): string[] => raw.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
      assert.deepEqual(values('x-over'), ['filter']);
      assert.deepEqual(values('x-add'), ['client', 'filter']);
      assert.deepEqual(values('x-action'), ['filter']);
    });
  });

  // router.cc Filter::doRetry replays a copy of the buffered body; processing_mode
  // request_body_mode NONE sends no body message (ext_proc.cc decodeData).
  test('request body replayed to every attempt; body mode NONE sends no body message', async () => {
    await withRig({ handlers: rotatingKeys, script: { 'key-1': { status: 429 } } }, async ({ envoy, upstream, processor }) => {
      const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      await send(envoy, '/v1/x', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.deepEqual(upstream.calls.map((c) => c.body.toString()), [body, body]);
      assert.ok(processor.streams.every((s) => !s.messages.some((m) => kindOf(m) === 'request_body')));
      assert.equal(processor.streams[0]?.messages[0]?.request_headers?.end_of_stream ?? false, false);
    });
  });

  // ext_proc.cc with request_body_mode BUFFERED: a request_body message per attempt; a body
  // mutation changes that attempt's copy only (router.cc doRetry copies the original). It must
  // come with a matching content-length (processor_state.cc validateContentLength), which the
  // same reply may set on the headers the filter still holds.
  test('request_body_mode BUFFERED: body message on each attempt, mutation affects one attempt', async () => {
    const yaml = bootstrapVariant((doc) => { extProcOf(doc, 'llm_openai').processing_mode.request_body_mode = 'BUFFERED'; });
    const handlers: ProcessorHandlers = {
      ...rotatingKeys,
      request_body: (_msg, { stream }) => (attemptOf(stream) === 1
        ? bodyResponse('request_body', { set_headers: [setRaw('content-length', '7')] }, { body_mutation: { body: Buffer.from('changed') } })
        : bodyResponse('request_body')),
    };
    await withRig({ handlers, yaml, script: { 'key-1': { status: 429 } } }, async ({ envoy, upstream, processor }) => {
      await send(envoy, '/v1/x', { method: 'POST', body: 'original' });
      assert.deepEqual(processor.streams.map((s) => s.messages.map(kindOf)), [1, 2].map(() => ['request_headers', 'request_body', 'response_headers']));
      assert.equal(processor.streams[1]?.messages[1]?.request_body?.body?.toString(), 'original');
      assert.deepEqual(upstream.calls.map((c) => c.body.toString()), ['changed', 'original']);
    });
  });

  // upstream_request.cc UpstreamRequest::decodeHeaders hands the FILTERED headers to
  // router.cc onUpstreamHeaders → retry_state_impl.cc wouldRetryFromHeaders.
});
