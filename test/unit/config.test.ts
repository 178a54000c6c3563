import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { embeddedConfig, EMBEDDED_SOURCE, loadConfigFile, parseConfig, poolForCluster } from '../../src/config';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/config');
const ENV = { OA_1: 'key-oa-1', OA_2: 'key-oa-2\n', AN_1: 'key-an-1' };

describe('config: a good file compiles', () => {
  const file = `${FIXTURES}/good.yaml`;
  const config = loadConfigFile(file, ENV);
  const [openai, anthropic] = config.pools;
  assert.ok(openai !== undefined && anthropic !== undefined);

  it('keeps the source, the pool order and the account count', () => {
    assert.equal(config.source, file);
    assert.deepEqual(config.pools.map((pool) => pool.policy.name), ['openai', 'anthropic']);
    assert.equal(config.accountCount, 3);
  });

  it('compiles every explicit field, lower-casing header names', () => {
    assert.deepEqual([...openai.clusters], ['llm_openai', 'llm_openai_eu']);
    assert.deepEqual(openai.credential, { header: 'authorization', prefix: 'Bearer ' });
    assert.deepEqual(openai.stripHeaders, ['authorization', 'x-api-key', 'api-key']);
    assert.deepEqual([...openai.policy.failoverStatuses], [429, 529, 503]);
    assert.equal(openai.policy.maxAttempts, 3);
    assert.deepEqual(openai.policy.cooldown, { defaultMs: 45_000, overloadMs: 5_000, maxMs: 3_600_000 });
    assert.deepEqual({ ...openai.policy.health, disableOn: [...openai.policy.health.disableOn] }, {
      disableOn: [401, 402, 403],
      probeAfterMs: 300_000,
      probeMaxMs: 7_200_000,
      maxDisabledFraction: 0.25,
    });
    const bodies = openai.policy.errorBodies!;
    assert.deepEqual([bodies.maxBytes, bodies.waitMs, [...bodies.statuses]], [4096, 50, [429, 400]]);
    assert.deepEqual(
      bodies.rules.map((rule) => ({ ...rule, statuses: [...rule.statuses] })),
      [
        { statuses: [429], path: ['error', 'code'], equals: 'insufficient_quota', class: 'billing' },
        { statuses: [400], contains: 'credit balance', class: 'billing' },
      ],
    );
    assert.deepEqual(openai.policy.sticky, {
      headers: ['session_id', 'x-session-id'],
      ttlMs: 1_800_000,
      graceMs: 0,
      maxBindings: 500,
    });
    assert.deepEqual(openai.policy.accounts, [
      { id: 'oa-1', priority: 0, weight: 2, quotaGroup: 'org-a', maxConcurrency: 16 },
      { id: 'oa-2', priority: 1, weight: 0.5 },
    ]);
  });

  it('resolves secrets by account id, trimming the trailing newline', () => {
    assert.deepEqual([...openai.secrets.keys()], ['oa-1', 'oa-2']);
    assert.equal(openai.secrets.get('oa-1')?.reveal(), 'key-oa-1');
    assert.equal(openai.secrets.get('oa-2')?.reveal(), 'key-oa-2');
    assert.equal(anthropic.secrets.get('an-1')?.reveal(), 'key-an-1');
  });

  it('fills defaults; a non-authorization credential header gets no prefix', () => {
    assert.deepEqual(anthropic.credential, { header: 'x-api-key', prefix: '' });
    assert.deepEqual(anthropic.stripHeaders, ['authorization', 'x-api-key', 'api-key']);
    assert.deepEqual([...anthropic.policy.failoverStatuses], [429, 529]);
    assert.equal(anthropic.policy.maxAttempts, 4);
    assert.deepEqual(anthropic.policy.cooldown, { defaultMs: 30_000, overloadMs: 10_000, maxMs: 21_600_000 });
    assert.deepEqual([...anthropic.policy.health.disableOn], [401]);
    assert.deepEqual([anthropic.policy.health.probeAfterMs, anthropic.policy.health.probeMaxMs], [600_000, 86_400_000]);
    assert.equal(anthropic.policy.health.maxDisabledFraction, 0.5);
    assert.equal(anthropic.policy.errorBodies, undefined, 'error bodies are read only when a pool opts in');
    assert.equal(anthropic.policy.sticky, undefined);
    assert.deepEqual(anthropic.policy.accounts, [{ id: 'an-1', priority: 0, weight: 1 }]);
  });

  it('is frozen all the way down', () => {
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.pools) && Object.isFrozen(openai));
    assert.ok(Object.isFrozen(openai.policy) && Object.isFrozen(openai.policy.accounts[0]));
    assert.ok(Object.isFrozen(openai.policy.cooldown) && Object.isFrozen(openai.policy.sticky?.headers));
    assert.ok(Object.isFrozen(openai.credential) && Object.isFrozen(openai.stripHeaders));
    assert.throws(() => (openai.clusters as Set<string>).add('x'), TypeError);
    assert.throws(() => (openai.policy.failoverStatuses as Set<number>).clear(), TypeError);
    assert.throws(() => (openai.secrets as Map<string, unknown>).delete('oa-1'), TypeError);
    assert.equal(openai.clusters.size, 2);
  });
});

describe('config: defaults of a minimal pool', () => {
  const config = loadConfigFile(`${FIXTURES}/minimal.yaml`, ENV);
  const pool = config.pools[0];

  it('omitting credential means authorization: Bearer <key>', () => {
    assert.deepEqual(pool?.credential, { header: 'authorization', prefix: 'Bearer ' });
    assert.equal(pool?.clusters.size, 0);
  });

  it('credential with only header authorization also defaults to "Bearer "; prefix "" is kept', () => {
    const yaml = (credential: string): string =>
      `pools:\n  - name: p\n    credential: ${credential}\n    accounts:\n      - id: a\n        secret: { env: OA_1 }\n`;
    assert.equal(parseConfig(yaml('{ header: authorization }'), 'x.yaml', ENV).pools[0]?.credential.prefix, 'Bearer ');
    assert.equal(parseConfig(yaml('{ prefix: "" }'), 'x.yaml', ENV).pools[0]?.credential.prefix, '');
    assert.equal(parseConfig(yaml('{ header: api-key }'), 'x.yaml', ENV).pools[0]?.credential.prefix, '');
  });

  it('sticky given with headers only fills ttl, grace and maxBindings', () => {
    const text = 'pools:\n  - name: p\n    sticky: { headers: [Session_ID] }\n    accounts:\n      - id: a\n        secret: { env: OA_1 }\n';
    assert.deepEqual(parseConfig(text, 'x.yaml', ENV).pools[0]?.policy.sticky, {
      headers: ['session_id'],
      ttlMs: 3_600_000,
      graceMs: 60_000,
      maxBindings: 100_000,
    });
  });
});

describe('config: poolForCluster', () => {
  const two = loadConfigFile(`${FIXTURES}/good.yaml`, ENV);
  const one = loadConfigFile(`${FIXTURES}/minimal.yaml`, ENV);

  it('matches clusters exactly when pools declare them', () => {
    assert.equal(poolForCluster(two, 'llm_openai')?.policy.name, 'openai');
    assert.equal(poolForCluster(two, 'llm_openai_eu')?.policy.name, 'openai');
    assert.equal(poolForCluster(two, 'llm_anthropic')?.policy.name, 'anthropic');
    assert.equal(poolForCluster(two, 'LLM_OPENAI'), undefined);
    assert.equal(poolForCluster(two, 'llm_other'), undefined);
    assert.equal(poolForCluster(two, undefined), undefined);
  });

  it('a single pool without match serves every cluster, even an unknown or missing one', () => {
    assert.equal(poolForCluster(one, 'llm_openai')?.policy.name, 'only');
    assert.equal(poolForCluster(one, 'anything')?.policy.name, 'only');
    assert.equal(poolForCluster(one, undefined)?.policy.name, 'only');
  });

  it('compiles the lookup into a frozen cluster → pool map, or one pool for every cluster', () => {
    assert.deepEqual([...two.poolByCluster].map(([cluster, pool]) => [cluster, pool.policy.name]), [
      ['llm_openai', 'openai'],
      ['llm_openai_eu', 'openai'],
      ['llm_anthropic', 'anthropic'],
    ]);
    assert.equal(two.everyClusterPool, undefined);
    assert.throws(() => (two.poolByCluster as Map<string, unknown>).delete('llm_openai'), TypeError);
    assert.equal(one.poolByCluster.size, 0);
    assert.equal(one.everyClusterPool, one.pools[0]);
  });

  it('a single pool with match serves only its clusters', () => {
    const text = 'pools:\n  - name: p\n    match: { clusters: [c1] }\n    accounts:\n      - id: a\n        secret: { env: OA_1 }\n';
    const config = parseConfig(text, 'x.yaml', ENV);
    assert.equal(poolForCluster(config, 'c1')?.policy.name, 'p');
    assert.equal(poolForCluster(config, 'c2'), undefined);
    assert.equal(poolForCluster(config, undefined), undefined);
  });
});

describe('config: embedded demo config', () => {
  it('works with an empty environment, using placeholder keys', () => {
    const config = embeddedConfig({});
    assert.equal(config.source, EMBEDDED_SOURCE);
    assert.equal(config.accountCount, 3);
    const pool = config.pools[0];
    assert.ok(pool !== undefined);
    assert.equal(pool.policy.name, 'demo');
    assert.equal(pool.clusters.size, 0);
    assert.deepEqual(pool.credential, { header: 'authorization', prefix: 'Bearer ' });
    assert.deepEqual(pool.policy.sticky?.headers, ['session_id', 'x-session-id']);
    assert.deepEqual(pool.policy.cooldown, { defaultMs: 30_000, overloadMs: 10_000, maxMs: 21_600_000 });
    assert.deepEqual(pool.policy.accounts.map((a) => [a.id, a.priority, a.weight]), [
      ['demo-a', 0, 1],
      ['demo-b', 0, 1],
      ['demo-c', 0, 1],
    ]);
    assert.deepEqual([...pool.secrets.values()].map((s) => s.reveal()), ['demo-key-a', 'demo-key-b', 'demo-key-c']);
    assert.equal(poolForCluster(config, 'llm_openai'), pool);
  });

  it('takes keys from DEMO_KEY_* when set', () => {
    const config = embeddedConfig({ DEMO_KEY_B: 'real-b', DEMO_KEY_C: '' });
    const secrets = config.pools[0]?.secrets;
    assert.equal(secrets?.get('demo-a')?.reveal(), 'demo-key-a');
    assert.equal(secrets?.get('demo-b')?.reveal(), 'real-b');
    assert.equal(secrets?.get('demo-c')?.reveal(), 'demo-key-c');
  });
});
