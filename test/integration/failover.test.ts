import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapVariant, extProcOf } from '../support/envoy-emulator/bootstrap-variant';
import { FakeClock } from '../support/fake-clock';
import { type Gateway, credentialsSince, startGateway, withGateway as withGatewayOn } from '../support/gateway';
import { eventually } from '../support/keyswitch';

// Issue 3's acceptance, end to end over real sockets: client → Envoy emulator (envoy/envoy.yaml)
// → keyswitch → scripted provider. Time is a fake clock inside keyswitch, so cooldowns are
// checked without sleeping. Priorities make the first pick deterministic: a, then b, then c.

const ENV = { KEY_A: 'key-a', KEY_B: 'key-b', KEY_C: 'key-c', AN_1: 'an-key' };

/** The gateway on this file's config unless the test brings its own. */
function withGateway(
  options: { configYaml?: string; clock?: FakeClock; random?: () => number },
  body: Parameters<typeof withGatewayOn>[1],
): Promise<void> {
  return withGatewayOn({ configYaml: config(), env: ENV, ...options }, body);
}

function config(options: { maxAttempts?: number; quotaGroupAB?: boolean } = {}): string {
  const group = options.quotaGroupAB ? ', quotaGroup: org-a' : '';
  return `
pools:
  - name: openai
    match: { clusters: [llm_openai] }
    credential: { header: authorization, prefix: "Bearer " }
    failover: { statuses: [429, 529], maxAttempts: ${options.maxAttempts ?? 4} }
    cooldown: { default: 30s, overload: 10s, max: 6h }
    sticky: { headers: [session_id], ttl: 2h, grace: 60s }
    accounts:
      - { id: a, secret: { env: KEY_A }, priority: 0${group} }
      - { id: b, secret: { env: KEY_B }, priority: 1${group} }
      - { id: c, secret: { env: KEY_C }, priority: 2 }
  - name: anthropic
    match: { clusters: [llm_anthropic] }
    credential: { header: x-api-key }
    accounts:
      - { id: an-1, secret: { env: AN_1 } }
`;
}

test('A answers 429 retry-after 30: the client gets B’s 200, A rests 30 s and serves again after', async () => {
  await withGateway({}, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '30' }, body: { error: 'rate_limit' } });
    const first = await gateway.send();
    assert.equal(first.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
    assert.equal(first.headers['x-keyswitch-failover'], undefined, 'the retry marker never reaches the client');

    gateway.upstream.setAnswer('key-a', { status: 200 });
    let seen = gateway.upstream.calls.length;
    clock.advance(29_000);
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-b'], 'A still cooling at 29 s');

    seen = gateway.upstream.calls.length;
    clock.advance(1_001);
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], 'A serves again after 30 s');
  });
});

test('A answers 529: B serves and A gets the overload cooldown, not the default one', async () => {
  await withGateway({}, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', [{ status: 529, body: { type: 'overloaded_error' } }, { status: 200 }]);
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
    const cooling = gateway.keyswitch.logs.find((line) => line.msg === 'account cooling down');
    assert.equal(cooling?.cause, 'overload');
    // overload 10 s, jitter factor 1.0 at random 0.5
    assert.equal(cooling?.until, new Date(clock.now() + 10_000).toISOString());

    let seen = gateway.upstream.calls.length;
    clock.advance(9_999);
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-b']);
    seen = gateway.upstream.calls.length;
    clock.advance(2);
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], 'back after 10 s, long before the 30 s default');
  });
});

test('400, 403 and 500 from A pass through untouched: no retry, no cooldown', async () => {
  await withGateway({}, async (gateway) => {
    for (const status of [400, 403, 500]) {
      gateway.upstream.setAnswer('key-a', { status, headers: { 'x-provider': 'said-so' }, body: { error: `status ${status}` } });
      const seen = gateway.upstream.calls.length;
      const response = await gateway.send();
      assert.equal(response.status, status);
      assert.equal(response.body, JSON.stringify({ error: `status ${status}` }));
      assert.equal(response.headers['x-provider'], 'said-so');
      assert.equal(response.headers['x-keyswitch-exhausted'], undefined);
      assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], `one attempt for ${status}`);
    }
    assert.ok(!gateway.keyswitch.logs.some((line) => line.msg === 'account cooling down'));
    assert.equal(gateway.envoy.stats.get('upstream_rq_retry'), 0);
  });
});

test('all three answer 429: the client gets 429 with the earliest reset and the exhausted flag', async () => {
  await withGateway({}, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '30' } });
    gateway.upstream.setAnswer('key-b', { status: 429, headers: { 'retry-after': '10' } });
    gateway.upstream.setAnswer('key-c', { status: 429, headers: { 'retry-after': '20', 'retry-after-ms': '20000', 'x-ms-retry-after-ms': '20000' } });
    const response = await gateway.send();
    assert.equal(response.status, 429);
    assert.equal(response.headers['retry-after'], '10', 'the earliest moment an account of the pool is usable');
    assert.equal(response.headers['retry-after-ms'], undefined, 'SDKs would prefer the failed account’s own wait');
    assert.equal(response.headers['x-ms-retry-after-ms'], undefined);
    assert.equal(response.headers['x-keyswitch-exhausted'], 'true');
    assert.equal(response.headers['x-keyswitch-failover'], undefined, 'the marker never reaches the client');
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b', 'Bearer key-c']);
  });
});

test('maxAttempts bounds the upstream calls even with accounts left', async () => {
  await withGateway({ configYaml: config({ maxAttempts: 2 }) }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '30' } });
    gateway.upstream.setAnswer('key-b', { status: 429, headers: { 'retry-after': '10' } });
    const response = await gateway.send();
    assert.equal(response.status, 429);
    assert.equal(response.headers['x-keyswitch-exhausted'], 'true');
    assert.equal(response.headers['retry-after'], '1', 'c is usable now');
    assert.equal(gateway.upstream.calls.length, 2);
  });
});

test('A and B share a quota group: A’s 429 cools B too, and C serves', async () => {
  await withGateway({ configYaml: config({ quotaGroupAB: true }) }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '60' } });
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-c']);
    const seen = gateway.upstream.calls.length;
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-c'], 'B cools with its group');
  });
});

/** The account and pick reason keyswitch logged for the latest attempt. */
function lastPick(gateway: Gateway): { account: unknown; reason: unknown } {
  const line = [...gateway.keyswitch.logs].reverse().find((l) => l.msg === 'attempt started');
  return { account: line?.account, reason: line?.reason };
}

test('sticky session: a long cooldown of the bound account moves the session', async () => {
  await withGateway({}, async (gateway, clock) => {
    const session = { session_id: 'conversation-1' };
    await gateway.send(undefined, session);
    assert.deepEqual(lastPick(gateway), { account: 'a', reason: 'balanced' });
    await gateway.send(undefined, session);
    assert.deepEqual(lastPick(gateway), { account: 'a', reason: 'sticky' });

    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '3600' } });
    assert.equal((await gateway.send(undefined, session)).status, 200);
    assert.equal(gateway.upstream.calls.at(-1)?.credential, 'Bearer key-b');
    clock.advance(1_000);
    await gateway.send(undefined, session);
    assert.deepEqual(lastPick(gateway), { account: 'b', reason: 'sticky' }, 'rebound to B');
  });
});

test('sticky session: a short blip of the bound account sends one request elsewhere, the binding stays', async () => {
  await withGateway({}, async (gateway, clock) => {
    const session = { session_id: 'conversation-2' };
    await gateway.send(undefined, session);
    gateway.upstream.setAnswer('key-a', [{ status: 429, headers: { 'retry-after': '5' } }, { status: 200 }]);
    assert.equal((await gateway.send(undefined, session)).status, 200);
    assert.equal(gateway.upstream.calls.at(-1)?.credential, 'Bearer key-b');
    clock.advance(6_000);
    await gateway.send(undefined, session);
    assert.deepEqual(lastPick(gateway), { account: 'a', reason: 'sticky' }, 'still bound to A');
    assert.ok(!JSON.stringify(gateway.keyswitch.logs).includes('conversation-2'), 'raw session ids are never logged');
  });
});

test('the client’s own credentials never reach the provider; attempt 2 carries only its own', async () => {
  await withGateway({}, async (gateway) => {
    gateway.upstream.setAnswer('key-a', { status: 429, headers: { 'retry-after': '30' } });
    const clientCredentials = { authorization: 'Bearer client-own-key', 'x-api-key': 'client-x', 'api-key': 'client-y' };
    assert.equal((await gateway.send(undefined, clientCredentials)).status, 200);
    const [first, second] = gateway.upstream.calls;
    for (const [call, key] of [[first!, 'key-a'], [second!, 'key-b']] as const) {
      const authorization = call.rawHeaders.filter(([name]) => name.toLowerCase() === 'authorization').map(([, value]) => value);
      assert.deepEqual(authorization, [`Bearer ${key}`]);
      assert.equal(call.headers['x-api-key'], undefined);
      assert.equal(call.headers['api-key'], undefined);
    }

    const seen = gateway.upstream.calls.length;
    assert.equal((await gateway.send('/anthropic/v1/messages', clientCredentials)).status, 200);
    const anthropic = gateway.upstream.calls[seen]!;
    assert.equal(anthropic.headers['x-api-key'], 'an-key');
    assert.equal(anthropic.headers.authorization, undefined, 'the x-api-key pool removes authorization');
  });
});

test('two pools are chosen by cluster; a request header naming a pool changes nothing', async () => {
  await withGateway({}, async (gateway) => {
    const spoof = { 'x-keyswitch-pool': 'anthropic', 'x-pool': 'anthropic', pool: 'anthropic' };
    await gateway.send('/v1/chat/completions', spoof);
    assert.equal(gateway.upstream.calls.at(-1)?.credential, 'Bearer key-a');
    await gateway.send('/anthropic/v1/messages', { 'x-keyswitch-pool': 'openai' });
    assert.equal(gateway.upstream.calls.at(-1)?.headers['x-api-key'], 'an-key');
    assert.equal(gateway.upstream.calls.at(-1)?.path, '/v1/messages');
  });
});

test('200 concurrent requests while one of five accounts is rate-limited: no client sees a 429', async () => {
  const accounts = ['a', 'b', 'c', 'd', 'e'];
  const configYaml = `
pools:
  - name: openai
    accounts:
${accounts.map((id) => `      - { id: ${id}, secret: { env: KEY_${id.toUpperCase()} } }`).join('\n')}
`;
  const env = Object.fromEntries(accounts.map((id) => [`KEY_${id.toUpperCase()}`, `key-${id}`]));
  const gateway = await startGateway({ configYaml, env });
  try {
    gateway.upstream.setAnswer('key-e', { status: 429, headers: { 'retry-after': '30' } });
    const responses = await Promise.all(Array.from({ length: 200 }, () => gateway.send()));
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 429).length, 0);
    assert.ok(statuses.every((status) => status === 200), `statuses: ${[...new Set(statuses)].join(',')}`);
    assert.ok(gateway.upstream.callsFor('key-e').length >= 1, 'the limited account was tried');
    assert.equal(gateway.upstream.calls.length, 200 + gateway.upstream.callsFor('key-e').length);
  } finally {
    await gateway.stop();
  }
});

test('without dynamic metadata, the x-request-id fallback still keeps a request off accounts it tried', async () => {
  // Check 3 of README's real-Envoy list: if metadata written by attempt 1 does not reach attempt 2,
  // the bounded per-request memory keyed by x-request-id (the same on every attempt) takes over.
  const bootstrapYaml = bootstrapVariant((doc) => {
    delete extProcOf(doc, 'llm_openai').metadata_options;
  });
  const gateway = await startGateway({ configYaml: config(), env: ENV, clock: new FakeClock(), random: () => 0.5, bootstrapYaml });
  try {
    gateway.upstream.setAnswer('key-a', { status: 429 });
    gateway.upstream.setAnswer('key-b', { status: 429 });
    const response = await gateway.send();
    assert.equal(response.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b', 'Bearer key-c']);
    const attempts = gateway.envoy.lastRequestTrace!.attempts;
    assert.equal(attempts.length, 3);
    for (const attempt of attempts) {
      const first = attempt.extProc?.sent[0]?.message;
      assert.ok(first?.request_headers, 'each attempt opened with request_headers');
      assert.equal(first.metadata_context?.filter_metadata?.keyswitch, undefined, 'no metadata reached keyswitch');
    }
  } finally {
    await gateway.stop();
  }
});

test('a client reusing one x-request-id for separate requests does not make them look like retries', async () => {
  await withGateway({}, async (gateway) => {
    const reused = { 'x-request-id': 'client-chose-this-id' };
    for (let i = 0; i < 5; i += 1) assert.equal((await gateway.send(undefined, reused)).status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), Array(5).fill('Bearer key-a'), 'each request starts from the best account');
    assert.ok(gateway.upstream.calls.every((call) => call.headers['x-request-id'] === 'client-chose-this-id'));
  });
});

test('two concurrent requests sharing an x-request-id fail over independently', async () => {
  // Envoy keeps a client's x-request-id, so ids can collide; the tried set travels in each
  // request's own dynamic metadata, and the id-keyed memory is only a fallback for its absence.
  const configYaml = `
pools:
  - name: openai
    accounts:
      - { id: a, secret: { env: KEY_A }, priority: 0, maxConcurrency: 1 }
      - { id: b, secret: { env: KEY_B }, priority: 1 }
`;
  let bCalled!: () => void;
  const bReached = new Promise<void>((resolve) => (bCalled = resolve));
  await withGateway({ configYaml }, async (gateway) => {
    gateway.upstream.setAnswer('key-a', async () => {
      await bReached; // X's first attempt answers only after Y's has reached b
      return { status: 429, headers: { 'retry-after': '30' } };
    });
    gateway.upstream.setAnswer('key-b', () => {
      bCalled();
      return { status: 200 };
    });
    const shared = { 'x-request-id': 'collides' };
    const x = gateway.send(undefined, shared);
    await eventually(() => gateway.upstream.calls.length === 1, 'X reached a');
    const y = gateway.send(undefined, shared); // a is at maxConcurrency: Y goes to b
    const [xResponse, yResponse] = await Promise.all([x, y]);
    assert.equal(yResponse.status, 200);
    assert.equal(xResponse.status, 200, 'X fails over to b instead of counting Y’s account as tried');
    assert.equal(xResponse.headers['x-keyswitch-exhausted'], undefined);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b', 'Bearer key-b']);
  });
});
