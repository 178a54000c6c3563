import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../support/fake-clock';
import { credentialsSince, withGateway } from '../support/gateway';
import type { UpstreamCall } from '../support/scripted-upstream';

// Issue 7's account health, end to end over real sockets: client → Envoy emulator
// (envoy/envoy.yaml) → keyswitch → scripted provider, with a fake clock inside keyswitch.

const ENV = { KEY_A: 'key-a', KEY_B: 'key-b', KEY_C: 'key-c', KEY_D: 'key-d' };

/** a, b, c in priority order unless `sameTier`; health settings as given. */
function config(options: { sameTier?: boolean; health?: string; accounts?: number } = {}): string {
  const ids = ['a', 'b', 'c', 'd'].slice(0, options.accounts ?? 3);
  return `
pools:
  - name: openai
    failover: { statuses: [429, 529], disableOn: [401, 403], maxAttempts: 4 }
    health: { probeAfter: 10m, maxDisabledFraction: 0.5${options.health ?? ''} }
    cooldown: { default: 30s, overload: 10s, max: 6h }
    accounts:
${ids.map((id, i) => `      - { id: ${id}, secret: { env: KEY_${id.toUpperCase()} }, priority: ${options.sameTier ? 0 : i} }`).join('\n')}
`;
}

const TEN_MINUTES = 10 * 60_000;

function logsWith(gateway: Parameters<Parameters<typeof withGateway>[1]>[0], msg: string): Record<string, unknown>[] {
  return gateway.keyswitch.logs.filter((line) => line.msg === msg);
}

test('a provider-sent retry marker on a 200 or a 400 costs exactly one upstream call', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway) => {
    for (const status of [200, 400]) {
      gateway.upstream.setAnswer('key-a', { status, headers: { 'x-keyswitch-failover': 'retry' }, body: { status } });
      const seen = gateway.upstream.calls.length;
      const response = await gateway.send();
      assert.equal(response.status, status);
      assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], `one call for ${status}`);
      assert.equal(response.headers['x-keyswitch-failover'], undefined);
    }
    assert.equal(gateway.envoy.stats.get('upstream_rq_retry'), 0, 'no generation is billed twice');
  });
});

test('A answers 401: the client gets B’s 200 and A is not chosen again until its probe', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', { status: 401, body: { error: { type: 'authentication_error' } } });
    const first = await gateway.send();
    assert.equal(first.status, 200);
    assert.deepEqual(credentialsSince(gateway, 0), ['Bearer key-a', 'Bearer key-b']);
    const disabled = logsWith(gateway, 'account disabled until its probe');
    assert.equal(disabled.length, 1);
    assert.equal(disabled[0]!.account, 'a');
    assert.equal(disabled[0]!.cause, 'disabled');

    const seen = gateway.upstream.calls.length;
    clock.advance(TEN_MINUTES - 1);
    for (let i = 0; i < 5; i++) assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, seen), Array(5).fill('Bearer key-b'), 'A is out of rotation');
  });
});

test('after probeAfter exactly one of 50 concurrent requests probes A; success re-enables it', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', { status: 401 });
    await gateway.send();
    clock.advance(TEN_MINUTES);

    // A's probe answers only once the other 49 requests reached B, so all 50 were picked
    // while the probe was in flight.
    let releaseProbe!: () => void;
    const othersArrived = new Promise<void>((resolve) => (releaseProbe = resolve));
    gateway.upstream.setAnswer('key-b', (call: UpstreamCall) => {
      if (gateway.upstream.callsFor('key-b').length - before.b >= 49) releaseProbe();
      void call;
      return { status: 200 };
    });
    gateway.upstream.setAnswer('key-a', async () => {
      await Promise.race([othersArrived, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      return { status: 200 };
    });
    const before = { a: gateway.upstream.callsFor('key-a').length, b: gateway.upstream.callsFor('key-b').length };
    const responses = await Promise.all(Array.from({ length: 50 }, () => gateway.send()));
    assert.ok(responses.every((response) => response.status === 200));
    assert.equal(gateway.upstream.callsFor('key-a').length - before.a, 1, 'one probe, not one per request');
    assert.equal(gateway.upstream.callsFor('key-b').length - before.b, 49);
    assert.equal(logsWith(gateway, 'probe succeeded: account enabled').length, 1);

    const seen = gateway.upstream.calls.length;
    assert.equal((await gateway.send()).status, 200);
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], 'A serves again, first by priority');
  });
});

test('a failed probe doubles the wait before the next one', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', { status: 401 });
    await gateway.send();
    clock.advance(TEN_MINUTES);
    let seen = gateway.upstream.calls.length;
    assert.equal((await gateway.send()).status, 200, 'the probe fails over to B');
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a', 'Bearer key-b']);
    assert.equal(logsWith(gateway, 'probe failed: account stays disabled').length, 1);

    gateway.upstream.setAnswer('key-a', { status: 200 });
    seen = gateway.upstream.calls.length;
    clock.advance(TEN_MINUTES);
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-b'], '10 minutes are not enough after a failed probe');
    seen = gateway.upstream.calls.length;
    clock.advance(TEN_MINUTES);
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a'], 'probed after 20 minutes, and back');
  });
});

test('every account answers 401: at most maxDisabledFraction is disabled, the client gets a 401, the pool recovers alone', async () => {
  // A seeded draw, so picks inside the one tier spread as they would in production.
  await withGateway({ configYaml: config({ sameTier: true, accounts: 4 }), env: ENV, random: mulberry32(3) }, async (gateway, clock) => {
    gateway.upstream.defaultAnswerIs({ status: 401, body: { error: { type: 'authentication_error' } } });
    for (let i = 0; i < 5; i++) {
      const response = await gateway.send();
      assert.equal(response.status, 401);
    }
    const disabled = new Set(logsWith(gateway, 'account disabled until its probe').map((line) => line.account));
    assert.equal(disabled.size, 2, 'half of 4 accounts, never more');
    assert.equal(logsWith(gateway, 'provider-wide fault: disabling more accounts would exceed health.maxDisabledFraction; none disabled').length, 1, 'logged once a minute');
    assert.equal(logsWith(gateway, 'pool exhausted, upstream answer goes to the client').length, 0, 'a provider-wide fault is not exhaustion');

    gateway.upstream.defaultAnswerIs({ status: 200 });
    const seen = gateway.upstream.calls.length;
    for (let i = 0; i < 20; i++) assert.equal((await gateway.send()).status, 200);
    const served = new Set(credentialsSince(gateway, seen));
    assert.ok(served.size >= 2, `served by ${[...served].join(', ')}`);
    clock.advance(TEN_MINUTES);
    for (let i = 0; i < 40; i++) await gateway.send();
    assert.equal(new Set(credentialsSince(gateway, seen)).size, 4, 'the disabled half came back through their probes');
  });
});

test('five no-information 429s in a row cool for 30, 60, 120, 240 and 480 s; a 200 resets it', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway, clock) => {
    gateway.upstream.setAnswer('key-a', { status: 429, body: { error: { code: 'insufficient_quota' } } });
    const lengths: number[] = [];
    for (let i = 0; i < 5; i++) {
      const now = clock.now();
      assert.equal((await gateway.send()).status, 200);
      const cooling = logsWith(gateway, 'account cooling down').at(-1)!;
      assert.equal(cooling.account, 'a');
      assert.equal(cooling.cause, i === 0 ? 'rate-limit' : 'escalated');
      const length = Date.parse(String(cooling.until)) - now;
      lengths.push(length / 1000);
      clock.advance(length);
    }
    assert.deepEqual(lengths, [30, 60, 120, 240, 480]);

    gateway.upstream.setAnswer('key-a', [{ status: 200 }, { status: 429 }]);
    await gateway.send();
    const now = clock.now();
    await gateway.send();
    const cooling = logsWith(gateway, 'account cooling down').at(-1)!;
    assert.equal(Date.parse(String(cooling.until)) - now, 30_000, 'back to cooldown.default after a success');
  });
});

test('a provider clock a minute behind: an absolute reset 45 s after its Date cools 45 s', async () => {
  await withGateway({ configYaml: config(), env: ENV }, async (gateway, clock) => {
    const providerNow = clock.now() - 60_000;
    gateway.upstream.setAnswer('key-a', {
      status: 429,
      headers: {
        date: new Date(providerNow).toUTCString(),
        'anthropic-ratelimit-unified-reset': String(Math.floor(providerNow / 1000) + 45),
      },
    });
    assert.equal((await gateway.send()).status, 200);
    const cooling = logsWith(gateway, 'account cooling down').at(-1)!;
    const length = Date.parse(String(cooling.until)) - clock.now();
    assert.ok(Math.abs(length - 45_000) <= 1_000, `cooled ${length} ms`);
  });
});
