import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { type Gateway, credentialsSince, withGateway } from '../support/gateway';
import { type ClientResponse, httpRequest } from '../support/http-client';
import { checkMetrics, promtoolSkip } from '../support/promtool';
import { readRepoFile } from '../support/repo-files';

// The admin listener over real HTTP on 127.0.0.1, with keyswitch behind the Envoy emulator.

const SENTINEL = { A: 'sk-ADMIN-SENTINEL-aaaa', B: 'sk-ADMIN-SENTINEL-bbbb', C: 'sk-ADMIN-SENTINEL-cccc' };
const ENV = { KEY_A: SENTINEL.A, KEY_B: SENTINEL.B, KEY_C: SENTINEL.C };

const CONFIG = `
pools:
  - name: openai
    failover: { statuses: [429, 529], disableOn: [401], maxAttempts: 4 }
    sticky: { headers: [session_id] }
    accounts:
      - { id: a, secret: { env: KEY_A }, priority: 0 }
      - { id: b, secret: { env: KEY_B }, priority: 1 }
      - { id: c, secret: { env: KEY_C }, priority: 2 }
`;

/** An admin request, always to loopback (an all-interfaces listener is reached on 127.0.0.1). */
function admin(gateway: Gateway, route: string, init: { method?: string; token?: string } = {}): Promise<ClientResponse> {
  const headers: Record<string, string> = init.token === undefined ? {} : { authorization: `Bearer ${init.token}` };
  if (init.method === 'POST') headers['x-keyswitch-action'] = '1';
  const address = gateway.keyswitch.app.adminAddress.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  return httpRequest(`http://${address}${route}`, { method: init.method ?? 'GET', headers });
}

/** One sample of the exposition: `name{labels} value`, labels given in any order. */
function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
  }
  return undefined;
}

function assertNoSentinel(text: string, where: string): void {
  for (const secret of Object.values(SENTINEL)) assert.ok(!text.includes(secret), `${where} holds a secret`);
  assert.ok(!text.includes('ADMIN-SENTINEL'), `${where} holds part of a secret`);
}

test('metrics after scripted traffic: failovers absorbed apart from what clients saw', async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway, clock) => {
    const { upstream } = gateway;
    // 1. A rate-limits, B serves: one absorbed failover.
    upstream.setAnswer(SENTINEL.A, { status: 429, headers: { 'retry-after': '60' } });
    assert.equal((await gateway.send()).status, 200);
    // 2. B's key is refused: disabled, C serves.
    upstream.setAnswer(SENTINEL.B, { status: 401 });
    assert.equal((await gateway.send()).status, 200);
    // 3. C answers 200 with no headroom left: a headroom cooldown, no failover.
    upstream.setAnswer(SENTINEL.C, [{ status: 200, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30s' } }]);
    assert.equal((await gateway.send()).status, 200);
    // 4. Every account out: the client gets the exhausted 429.
    upstream.setAnswer(SENTINEL.C, { status: 429, headers: { 'retry-after': '10' } });
    clock.advance(30_001);
    const exhausted = await gateway.send();
    assert.equal(exhausted.status, 429);
    assert.equal(exhausted.headers['x-keyswitch-exhausted'], 'true');

    const metrics = (await admin(gateway, '/metrics')).body;
    assertNoSentinel(metrics, '/metrics');
    const pool = { pool: 'openai' };
    assert.equal(sample(metrics, 'keyswitch_failovers_total', { ...pool, cause: 'rate_limit' }), 1);
    assert.equal(sample(metrics, 'keyswitch_failovers_total', { ...pool, cause: 'account_fault' }), 1);
    assert.equal(sample(metrics, 'keyswitch_client_errors_total', { ...pool, status: '429' }), 1, 'only the exhausted answer reached a client');
    assert.equal(sample(metrics, 'keyswitch_pool_exhausted_total', pool), 1);
    assert.equal(sample(metrics, 'keyswitch_attempts_total', { ...pool, account: 'a', outcome: 'rate_limited' }), 1);
    assert.equal(sample(metrics, 'keyswitch_attempts_total', { ...pool, account: 'b', outcome: 'refused' }), 1);
    assert.equal(sample(metrics, 'keyswitch_attempts_total', { ...pool, account: 'c', outcome: 'success' }), 2);
    assert.equal(sample(metrics, 'keyswitch_cooldowns_started_total', { ...pool, cause: 'headroom' }), 1);
    assert.equal(sample(metrics, 'keyswitch_cooldowns_started_total', { ...pool, cause: 'disabled' }), 1);
    assert.equal(sample(metrics, 'keyswitch_accounts', { ...pool, state: 'disabled' }), 1);
    assert.equal(sample(metrics, 'keyswitch_accounts', { ...pool, state: 'cooling' }), 2);
    assert.equal(sample(metrics, 'keyswitch_accounts', { ...pool, state: 'available' }), 0);
    assert.equal(sample(metrics, 'keyswitch_account_cooldown_remaining_seconds', { ...pool, account: 'c' }), 10);
    assert.equal(sample(metrics, 'keyswitch_account_cooldown_remaining_seconds', { ...pool, account: 'b' }), undefined, 'disabled, not cooling');
    assert.ok(sample(metrics, 'keyswitch_decision_duration_seconds_count', { message: 'request_headers' })! >= 5);
    assert.equal(sample(metrics, 'keyswitch_open_streams'), 0);
    assert.ok(sample(metrics, 'keyswitch_process_resident_memory_bytes')! > 0, 'process metrics');
    assert.ok(metrics.includes('keyswitch_nodejs_eventloop_lag_seconds'), 'event-loop metrics');
  });
});

test('/v1/pools shows each account’s state with a fingerprint, never the key; actions change the next picks', async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway, clock) => {
    gateway.upstream.setAnswer(SENTINEL.A, [{ status: 429, headers: { 'retry-after': '60' } }, { status: 200 }]);
    await gateway.send('/v1/chat/completions', { session_id: 'conversation-1' });
    const view = await admin(gateway, '/v1/pools');
    assert.equal(view.status, 200);
    assertNoSentinel(view.body, '/v1/pools');
    const body = JSON.parse(view.body) as { now: string; pools: Array<{ name: string; absorbed: number; accounts: Array<Record<string, any>> }> };
    assert.equal(body.now, new Date(clock.now()).toISOString());
    const [pool] = body.pools;
    assert.equal(pool!.absorbed, 1);
    const [a, b, c] = pool!.accounts;
    assert.deepEqual([a!.state, a!.coolingUntil, a!.cooldownCause, a!.lastFailover.cause], ['cooling', new Date(clock.now() + 60_000).toISOString(), 'rate-limit', 'rate-limit']);
    // A 60 s cooldown is within the default 60 s grace, so the session stays bound to a.
    assert.deepEqual([a!.stickySessions, b!.stickySessions], [1, 0]);
    assert.equal(c!.state, 'available');
    const fingerprint = (key: string) => createHmac('sha256', 'keyswitch').update(key).digest('hex').slice(0, 8);
    assert.deepEqual([a!.fingerprint, b!.fingerprint, c!.fingerprint], [fingerprint(SENTINEL.A), fingerprint(SENTINEL.B), fingerprint(SENTINEL.C)]);

    // clear-cooldown: a serves again at once (it is first by priority).
    const cleared = await admin(gateway, '/v1/pools/openai/accounts/a/clear-cooldown', { method: 'POST' });
    assert.equal(cleared.status, 200);
    assert.equal(JSON.parse(cleared.body).state, 'available');
    let seen = gateway.upstream.calls.length;
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), [`Bearer ${SENTINEL.A}`]);

    // drain: no new attempts on a; enable: back.
    assert.equal(JSON.parse((await admin(gateway, '/v1/pools/openai/accounts/a/drain', { method: 'POST' })).body).state, 'drained');
    seen = gateway.upstream.calls.length;
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), [`Bearer ${SENTINEL.B}`]);
    assert.equal(JSON.parse((await admin(gateway, '/v1/pools/openai/accounts/a/enable', { method: 'POST' })).body).state, 'available');
    seen = gateway.upstream.calls.length;
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), [`Bearer ${SENTINEL.A}`]);

    // enable clears a fault too.
    gateway.upstream.setAnswer(SENTINEL.A, [{ status: 401 }, { status: 200 }]);
    await gateway.send();
    assert.equal(JSON.parse((await admin(gateway, '/v1/pools')).body).pools[0].accounts[0].state, 'disabled');
    await admin(gateway, '/v1/pools/openai/accounts/a/enable', { method: 'POST' });
    seen = gateway.upstream.calls.length;
    await gateway.send();
    assert.deepEqual(credentialsSince(gateway, seen), [`Bearer ${SENTINEL.A}`]);
  });
});

test('JSON errors: unknown pool, account, action, path and method', async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway) => {
    const cases: Array<[string, string, number, RegExp]> = [
      ['POST', '/v1/pools/nope/accounts/a/drain', 404, /no pool "nope"/],
      ['POST', '/v1/pools/openai/accounts/zz/drain', 404, /has no account "zz"/],
      ['POST', '/v1/pools/openai/accounts/a/explode', 404, /unknown action "explode"/],
      ['GET', '/v1/pools/openai/accounts/a/drain', 405, /takes POST/],
      ['DELETE', '/v1/pools', 405, /takes GET/],
      ['GET', '/nothing-here', 404, /no such path/],
      ['POST', '/v1/pools/openai/accounts/%E0/drain', 400, /malformed request path/],
    ];
    for (const [method, route, status, message] of cases) {
      const response = await admin(gateway, route, { method });
      assert.equal(response.status, status, `${method} ${route}`);
      assert.equal(response.headers['content-type'], 'application/json');
      assert.match(JSON.parse(response.body).error, message);
    }
  });
});

test('an action without the x-keyswitch-action header (a cross-site form or no-cors fetch) is refused', async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway) => {
    const address = gateway.keyswitch.app.adminAddress;
    const response = await httpRequest(`http://${address}/v1/pools/openai/accounts/a/drain`, { method: 'POST', headers: { 'content-type': 'text/plain' } });
    assert.equal(response.status, 403);
    assert.match(JSON.parse(response.body).error, /x-keyswitch-action/);
    assert.equal(JSON.parse((await admin(gateway, '/v1/pools')).body).pools[0].accounts[0].state, 'available');
  });
});

test('off loopback with a token file: probes stay open, everything else needs the right bearer token', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-admin-'));
  const tokenFile = path.join(dir, 'token');
  await fs.writeFile(tokenFile, 'admin-token-42\n');
  try {
    // Bound to every interface, as a pod's admin port for the kubelet and Prometheus.
    const settings = { adminListen: '0.0.0.0:0', adminTokenFile: tokenFile };
    await withGateway({ configYaml: CONFIG, env: ENV, settings }, async (gateway) => {
      assert.match(gateway.keyswitch.app.adminAddress, /^0\.0\.0\.0:\d+$/);
      for (const probe of ['/healthz', '/readyz', '/metrics']) assert.equal((await admin(gateway, probe)).status, 200, probe);
      for (const route of ['/', '/v1/pools']) {
        const missing = await admin(gateway, route);
        assert.equal(missing.status, 401, `${route} without a token`);
        assert.match(JSON.parse(missing.body).error, /bearer token/);
        assert.equal((await admin(gateway, route, { token: 'admin-token-41' })).status, 401, `${route} with a wrong token`);
        assert.equal((await admin(gateway, route, { token: 'admin-token-42' })).status, 200, `${route} with the token`);
      }
      assert.equal((await admin(gateway, '/v1/pools/openai/accounts/a/drain', { method: 'POST', token: 'nope' })).status, 401);
      assert.equal((await admin(gateway, '/v1/pools/openai/accounts/a/drain', { method: 'POST', token: 'admin-token-42' })).status, 200);
      // A rotated token file applies at once.
      await fs.writeFile(tokenFile, 'admin-token-43');
      assert.equal((await admin(gateway, '/v1/pools', { token: 'admin-token-42' })).status, 401);
      assert.equal((await admin(gateway, '/v1/pools', { token: 'admin-token-43' })).status, 200);
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('/readyz turns 503 as soon as the drain starts; /healthz stays 200', async () => {
  await withGateway({ configYaml: CONFIG, env: ENV, settings: { drainMs: 400 } }, async (gateway) => {
    assert.equal((await admin(gateway, '/readyz')).status, 200);
    const stopped = gateway.keyswitch.app.stop();
    assert.equal((await admin(gateway, '/readyz')).status, 503);
    assert.equal((await admin(gateway, '/healthz')).status, 200);
    assert.equal((await gateway.send()).status, 200, 'new requests are still served during the drain window');
    await stopped;
  });
});

test('promtool accepts the live exposition; every metric the alerts and the dashboard read is exported', { skip: promtoolSkip() }, async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer(SENTINEL.A, { status: 429, headers: { 'retry-after': '60' } });
    await gateway.send();
    const exposition = (await admin(gateway, '/metrics')).body;
    const lint = checkMetrics(exposition);
    // prom-client's default metrics name three gauges *_total (prom-client lib/metrics/processHandles.js
    // and friends); they are the library's names, not keyswitch's, and dashboards know them so.
    const PROM_CLIENT_GAUGES = ['active_handles_total', 'active_requests_total', 'active_resources_total'].map((n) => `keyswitch_nodejs_${n}`);
    assert.deepEqual(lint.problems.filter((problem) => !PROM_CLIENT_GAUGES.includes(problem.metric)), [], lint.output);
    // Declared families count even before their first sample (the GC histogram waits for a GC).
    const exported = new Set([...exposition.matchAll(/^(keyswitch_[a-z0-9_]+)[{ ]/gm)].map((m) => m[1]!));
    for (const [, name, type] of exposition.matchAll(/^# TYPE (keyswitch_[a-z0-9_]+) (\w+)$/gm)) {
      exported.add(name!);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
    for (const file of ['alerts.yaml', 'grafana-dashboard.json']) {
      const used = new Set([...readRepoFile('envoy', 'observability', file).matchAll(/\bkeyswitch_[a-z0-9_]+/g)].map((m) => m[0]));
      for (const name of used) assert.ok(exported.has(name), `${file} reads ${name}, which keyswitch does not export`);
    }
  });
});
