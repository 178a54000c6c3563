import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, openProcess, requestHeaders, responseHeaders } from '../support/extproc-client';
import { FakeClock } from '../support/fake-clock';
import { startGateway } from '../support/gateway';

// Secrets are redacted by construction; this is the check: plant sentinel secrets, drive every path that logs or answers (success,
// failover, exhaustion, pass-through, sticky, protocol violation, unmatched cluster) at debug
// level, then search every output for them.
const SENTINELS = { KEY_A: 'sk-SENTINEL-aaaa-7f3c', KEY_B: 'sk-SENTINEL-bbbb-91d0' };
const CONFIG = `
pools:
  - name: openai
    match: { clusters: [llm_openai] }
    sticky: { headers: [session_id] }
    accounts:
      - { id: a, secret: { env: KEY_A }, priority: 0 }
      - { id: b, secret: { env: KEY_B }, priority: 1 }
`;

test('no secret appears in logs, client responses or stream errors', async () => {
  const gateway = await startGateway({ configYaml: CONFIG, env: SENTINELS, clock: new FakeClock() });
  const outputs: string[] = [];
  try {
    const remember = (response: { status: number; headers: unknown; body: string }) => {
      outputs.push(JSON.stringify(response));
      return response;
    };
    remember(await gateway.send(undefined, { session_id: 's-1' }));
    gateway.upstream.setAnswer(SENTINELS.KEY_A, { status: 429, headers: { 'retry-after': '30' } });
    remember(await gateway.send(undefined, { session_id: 's-1' }));
    gateway.upstream.setAnswer(SENTINELS.KEY_B, { status: 429, headers: { 'retry-after': '5' } });
    assert.equal(remember(await gateway.send()).status, 429, 'exhausted');
    gateway.upstream.setAnswer(SENTINELS.KEY_A, { status: 401 });
    gateway.upstream.setAnswer(SENTINELS.KEY_B, { status: 401 });
    assert.equal(remember(await gateway.send()).status, 401, 'pass-through');

    const unmatched = remember(await gateway.send('/anthropic/v1/messages'));
    assert.equal(unmatched.status, 500, 'a cluster no pool serves fails closed');
    assert.ok(gateway.keyswitch.logs.some((line) => String(line.msg).includes('no pool serves cluster "llm_anthropic"')));

    const client = connect(gateway.keyswitch.address);
    const call = openProcess(client);
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    const status = await call.ended;
    outputs.push(status.details);
    const late = openProcess(client);
    late.send(responseHeaders(429));
    outputs.push((await late.ended).details);
    client.close();

    // The provider must receive the secrets: that proves the sentinels were really in use.
    assert.ok(gateway.upstream.callsFor(SENTINELS.KEY_A).length > 0);
    assert.ok(gateway.upstream.callsFor(SENTINELS.KEY_B).length > 0);
  } finally {
    await gateway.stop();
  }
  const everything = [gateway.keyswitch.rawLogs(), ...outputs].join('\n');
  assert.ok(gateway.keyswitch.logs.length > 10, 'debug logging was on');
  for (const secret of Object.values(SENTINELS)) {
    assert.ok(!everything.includes(secret), 'a secret leaked');
    assert.ok(!everything.includes(secret.slice(3)), 'part of a secret leaked');
  }
});
