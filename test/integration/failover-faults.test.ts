import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentialsSince, withGateway } from '../support/gateway';

// The failover holes of issue 7, end to end: client → Envoy emulator (envoy/envoy.yaml) →
// keyswitch → scripted provider. Each Envoy behaviour cites its source in the emulator.

const ENV = { KEY_A: 'key-a', KEY_B: 'key-b', KEY_C: 'key-c' };

function config(options: { accounts?: number; errorBodies?: string } = {}): string {
  const ids = ['a', 'b', 'c'].slice(0, options.accounts ?? 3);
  return `
pools:
  - name: openai
    failover: { statuses: [429, 529], maxAttempts: 4 }
${options.errorBodies ?? ''}
    accounts:
${ids.map((id, i) => `      - { id: ${id}, secret: { env: KEY_${id.toUpperCase()} }, priority: ${i} }`).join('\n')}
`;
}

const headerOf = (entries: Array<[string, string]> | undefined, name: string) => entries?.find(([key]) => key === name)?.[1];

test('a 429 with x-envoy-ratelimited fails over to a free account; the header never reaches the router on a retried attempt', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'x-envoy-ratelimited': 'true', 'retry-after': '30' } });
    const response = await gateway.send();
    assert.equal(response.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
    const [first] = gateway.envoy.lastRequestTrace!.attempts;
    assert.equal(first!.retry.decision, 'retry');
    assert.equal(headerOf(first!.filteredResponseHeaders as Array<[string, string]>, 'x-envoy-ratelimited'), undefined, 'removed before the router read it');
  });
});

test('every account limited behind an Envoy rate limiter: the client gets the exhausted answer', async () => {
  await withGateway({ configYaml: config({ accounts: 2 }), env: ENV }, async (gateway) => {
    for (const key of ['key-a', 'key-b']) gateway.upstream.setAnswer(key, { status: 429, headers: { 'x-envoy-ratelimited': 'true', 'retry-after': '20' } });
    const response = await gateway.send();
    assert.equal(response.status, 429);
    assert.equal(response.headers['x-keyswitch-exhausted'], 'true');
    assert.equal(response.headers['retry-after'], '20', 'the pool’s retry-after, not a bare provider 429');
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
  });
});

test('an attempt that never reached the provider leaves its account eligible: A refused, B 429, A serves the third attempt', async () => {
  // The refusal comes 50 ms into attempt 1, after keyswitch answered its request headers, as a
  // connect timeout or refusal would in Envoy (upstream_request.cc onPoolFailure).
  await withGateway(
    { configYaml: config({ accounts: 2 }), env: ENV, failConnect: ({ attempt }) => (attempt === 1 ? 50 : undefined) },
    async (gateway) => {
      gateway.upstream.setAnswer('key-b', { status: 429, headers: { 'retry-after': '30' } });
      const response = await gateway.send();
      assert.equal(response.status, 200);
      const attempts = gateway.envoy.lastRequestTrace!.attempts;
      assert.equal(attempts.length, 3);
      assert.match(attempts[0]!.reset ?? '', /^connect-failure/);
      assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-b', 'Bearer key-a'], 'B first (A is avoided after its refusal), then A');
      assert.equal(response.headers['x-keyswitch-exhausted'], undefined);
    },
  );
});

const ERROR_BODIES = '    errorBodies: { wait: 150ms, maxBytes: 2048 }';

test('error bodies: an insufficient_quota 429 disables the account as billing; a plain rate-limit 429 keeps its cooldown', async () => {
  await withGateway({ configYaml: config({ errorBodies: ERROR_BODIES }), env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, body: { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } } });
    gateway.upstream.setAnswer('key-b', { status: 429, headers: { 'retry-after': '40' }, body: { error: { code: 'rate_limit_exceeded' } } });
    const started = Date.now();
    const response = await gateway.send();
    assert.ok(Date.now() - started < 5_000, "the held body did not stall the request");
    assert.equal(response.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b', 'Bearer key-c']);
    const disabled = gateway.keyswitch.logs.filter((line) => line.msg === 'account disabled until its probe');
    assert.deepEqual(disabled.map((line) => [line.account, line.cause]), [['a', 'billing']]);
    const cooling = gateway.keyswitch.logs.filter((line) => line.msg === 'account cooling down' && line.account === 'b');
    assert.equal(cooling.length, 1);
    assert.equal(cooling[0]!.cause, 'rate-limit');
    const seen = gateway.upstream.calls.length;
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-c'], 'a is disabled, b cools');
    assert.equal(gateway.envoy.stats.get('ext_proc.message_timeouts'), 0, 'every reply within message_timeout');
  });
});

test('error bodies: a 400 "credit balance is too low" is retried on another account instead of reaching the client', async () => {
  await withGateway({ configYaml: config({ errorBodies: ERROR_BODIES }), env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.' } } });
    const response = await gateway.send();
    assert.equal(response.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
  });
});

test('error bodies: a body over maxBytes or slower than wait falls back to the header-only decision, within message_timeout', async () => {
  const quota = JSON.stringify({ error: { code: 'insufficient_quota', message: 'x'.repeat(4_000) } });
  await withGateway({ configYaml: config({ errorBodies: ERROR_BODIES }), env: ENV }, async (gateway) => {
    // Over maxBytes: the 429 is a plain rate limit (cooldown, retry), not billing.
    gateway.upstream.setAnswer('key-a', { status: 429, body: quota });
    assert.equal((await gateway.send()).status, 200);
    // Slower than wait: the same.
    const slow = ['{"error":{"code":', '"insufficient_quota"}}'];
    gateway.upstream.setAnswer('key-b', { status: 429, chunks: slow, chunkDelayMs: 400 });
    gateway.upstream.setAnswer('key-c', { status: 200 });
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b', 'Bearer key-b', 'Bearer key-c']);
    assert.equal(gateway.keyswitch.logs.filter((line) => line.msg === 'account disabled until its probe').length, 0, 'nothing classified as billing');
    assert.ok(gateway.keyswitch.logs.some((line) => String(line.msg).startsWith('error body too large')));
    assert.ok(gateway.keyswitch.logs.some((line) => String(line.msg).startsWith('error body late')));
    assert.equal(gateway.envoy.stats.get('ext_proc.message_timeouts'), 0, 'every reply within message_timeout');
  });
});

test('the access-log metadata says which account served the request and which were tried', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '30' } });
    assert.equal((await gateway.send()).status, 200);
    const metadata = gateway.envoy.lastRequestTrace!.dynamicMetadata.keyswitch as Record<string, unknown>;
    assert.deepEqual(
      { pool: metadata.pool, account: metadata.account, attempt: metadata.attempt, tried: metadata.tried, unreached: metadata.unreached, decision: metadata.decision, class: metadata.class },
      { pool: 'openai', account: 'b', attempt: 2, tried: ['a', 'b'], unreached: [], decision: 'pass', class: 'success' },
    );
    assert.ok(!JSON.stringify(metadata).includes('key-'), 'no credential in the metadata');
  });
});
