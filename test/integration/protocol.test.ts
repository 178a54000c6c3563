import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EXT_PROC_SERVICE_FILE, officialRoot } from '../support/official-protos';
import { connect, headerMap, openProcess, requestHeaders, responseHeaders, setHeaders } from '../support/extproc-client';
import { type RunningKeyswitch, eventually, startKeyswitch } from '../support/keyswitch';

// One Process stream = one upstream attempt; Envoy expects exactly one reply per message, in
// order (external_processor.proto, ProcessingRequest; ext_proc.cc Filter::onReceiveMessage).
describe('ext_proc protocol over a real socket', () => {
  let keyswitch: RunningKeyswitch;
  let client: ReturnType<typeof connect>;

  before(async () => {
    keyswitch = await startKeyswitch();
    client = connect(keyswitch.address);
  });
  after(async () => {
    client.close();
    await keyswitch.stop();
  });

  test('two-phase flow: credential on request headers, a 200 only loses any retry marker, clean end', async () => {
    const call = openProcess(client);
    call.send(requestHeaders({ authorization: 'Bearer client-key', 'x-request-id': 'r-flow' }, { 'xds.cluster_name': 'llm_openai', 'request.id': 'r-flow' }));
    const first = await call.reply(1);
    assert.equal(first.response, 'request_headers');
    const set = setHeaders(first, 'request_headers');
    assert.match(set.authorization ?? '', /^Bearer demo-key-[abc]$/);
    const option = first.request_headers.response.header_mutation.set_headers[0];
    assert.equal(option.header.value, undefined, 'value must stay unset: Envoy >= 1.32 rejects value + raw_value');
    assert.equal(option.append, undefined, 'append unset means overwrite in ext_proc');
    assert.ok(first.request_headers.response.header_mutation.remove_headers.includes('x-api-key'));
    // Until its response headers come back, the picked account has not reached the provider.
    const ids = (reply: any, key: string): string[] =>
      (reply.dynamic_metadata.fields.keyswitch.structValue.fields[key].listValue.values ?? []).map((v: any) => v.stringValue);
    const picked = set.authorization!.replace('Bearer demo-key-', 'demo-');
    assert.deepEqual(ids(first, 'tried'), []);
    assert.deepEqual(ids(first, 'unreached'), [picked]);

    call.send(responseHeaders(200));
    const second = await call.reply(2);
    assert.equal(second.response, 'response_headers');
    assert.deepEqual(second.response_headers.response.header_mutation.remove_headers, ['x-keyswitch-failover', 'x-keyswitch-exhausted']);
    assert.deepEqual(second.response_headers.response.header_mutation.set_headers ?? [], []);
    assert.deepEqual(ids(second, 'tried'), [picked]);
    assert.deepEqual(ids(second, 'unreached'), []);
    call.call.end();
    assert.equal((await call.ended).code, grpc.status.OK);
    await eventually(() => keyswitch.app.activeAttempts() === 0, 'attempt freed');
  });

  test('Envoy cancelling right after request headers frees the attempt', async () => {
    const call = openProcess(client);
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    await call.reply(1);
    assert.equal(keyswitch.app.activeAttempts(), 1);
    call.call.cancel();
    assert.equal((await call.ended).code, grpc.status.CANCELLED);
    await eventually(() => keyswitch.app.activeAttempts() === 0, 'attempt freed after cancel');
  });

  test('half-close without response headers ends the stream OK and frees the attempt', async () => {
    const call = openProcess(client);
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    await call.reply(1);
    call.call.end();
    assert.equal((await call.ended).code, grpc.status.OK);
    await eventually(() => keyswitch.app.activeAttempts() === 0, 'attempt freed after half-close');
  });

  test('observability mode gets no replies at all', async () => {
    const call = openProcess(client);
    call.send({ ...requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }), observability_mode: true });
    call.send({ ...responseHeaders(429), observability_mode: true });
    call.call.end();
    assert.equal((await call.ended).code, grpc.status.OK);
    assert.equal(call.replies.length, 0);
  });

  test('body and trailer messages get pass-through replies of the same kind, in order', async () => {
    const call = openProcess(client);
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    call.send({ request_body: { body: Buffer.from('{"model":"x"}'), end_of_stream: true } });
    call.send({ request_trailers: { trailers: headerMap({ 'x-t': '1' }) } });
    call.send(responseHeaders(200));
    call.send({ response_body: { body: Buffer.from('{}'), end_of_stream: false } });
    call.send({ response_trailers: { trailers: headerMap({ 'grpc-status': '0' }) } });
    await call.reply(6);
    assert.deepEqual(
      call.replies.map((reply) => reply.response),
      ['request_headers', 'request_body', 'request_trailers', 'response_headers', 'response_body', 'response_trailers'],
    );
    assert.equal(call.replies[1]!.request_body.response.body_mutation, undefined, 'the body passes through untouched');
    call.call.end();
    assert.equal((await call.ended).code, grpc.status.OK);
  });

  describe('a protocol violation ends only its own stream', () => {
    const violations: Array<[string, Array<Record<string, any>>]> = [
      ['response headers before request headers', [responseHeaders(200)]],
      ['a second request_headers', [requestHeaders({}, { 'xds.cluster_name': 'c' }), requestHeaders({}, { 'xds.cluster_name': 'c' })]],
      ['a second response_headers', [requestHeaders({}, { 'xds.cluster_name': 'c' }), responseHeaders(200), responseHeaders(200)]],
      ['a message with no request', [{}]],
      ['a request body before request headers', [{ request_body: { body: Buffer.from('{}'), end_of_stream: true } }]],
    ];
    for (const [name, messages] of violations) {
      test(name, async () => {
        const bystander = openProcess(client);
        bystander.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
        await bystander.reply(1);

        const call = openProcess(client);
        for (const message of messages) call.send(message);
        const status = await call.ended;
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
        assert.match(status.details, /protocol violation/);

        bystander.send(responseHeaders(200));
        assert.equal((await bystander.reply(2)).response, 'response_headers');
        bystander.call.end();
        assert.equal((await bystander.ended).code, grpc.status.OK);
        await eventually(() => keyswitch.app.activeAttempts() === 0, 'both attempts freed');
        assert.ok(keyswitch.logs.some((line) => String(line.msg).includes('protocol violation')), 'the violation is logged');
      });
    }

    test('an undecodable message', async () => {
      const raw = new grpc.Client(keyswitch.address, grpc.credentials.createInsecure());
      const call = raw.makeBidiStreamRequest(
        '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
      );
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      const official = officialRoot([EXT_PROC_SERVICE_FILE]).lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
      call.write(Buffer.from(official.encode(official.fromObject(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }))).finish()));
      await eventually(() => keyswitch.app.activeAttempts() === 1, 'the attempt began');
      call.write(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f])); // field 2, length far past the end
      const ended = await status;
      assert.equal(ended.code, grpc.status.INTERNAL, 'grpc-js answers an undecodable message with INTERNAL');
      raw.close();
      await eventually(() => keyswitch.app.activeAttempts() === 0, 'the attempt is freed');
      assert.ok(keyswitch.logs.some((line) => String(line.msg).startsWith('protocol violation: undecodable')), 'and logged');

      const next = openProcess(client);
      next.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
      assert.equal((await next.reply(1)).response, 'request_headers', 'the server still serves');
      next.call.end();
      await next.ended;
    });
  });

  test('1,000 concurrent streams are all answered, each in order', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const call = openProcess(client);
      call.send(requestHeaders({ 'x-request-id': `bulk-${i}` }, { 'xds.cluster_name': 'llm_openai' }));
      call.send({ request_body: { body: Buffer.from(String(i)), end_of_stream: true } });
      call.send(responseHeaders(i % 7 === 0 ? 429 : 200));
      call.send({ response_body: { body: Buffer.from('ok'), end_of_stream: true } });
      return call;
    });
    await Promise.all(calls.map((call) => call.reply(4)));
    for (const call of calls) {
      assert.deepEqual(
        call.replies.map((reply) => reply.response),
        ['request_headers', 'request_body', 'response_headers', 'response_body'],
      );
      call.call.end();
    }
    const statuses = await Promise.all(calls.map((call) => call.ended));
    assert.ok(statuses.every((status) => status.code === grpc.status.OK));
    await eventually(() => keyswitch.app.activeAttempts() === 0, 'every attempt freed');
  });
});
