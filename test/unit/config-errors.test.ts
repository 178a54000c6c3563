import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/config');
const ENV = { OA_1: 'key-oa-1', OA_2: 'key-oa-2', AN_1: 'key-an-1', TEST_EMPTY_KEY: '' };

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

/** fixture → [field path, fragment of the message]; each fixture holds exactly one problem. */
const ONE_PROBLEM: ReadonlyArray<readonly [string, string, string]> = [
  ['unknown-key-top', 'pool_defaults', 'unknown key (allowed: pools)'],
  ['unknown-key-pool', 'pools[0].retries', 'unknown key'],
  ['unknown-key-account', 'pools[0].accounts[1].wieght', 'unknown key'],
  ['bad-duration', 'pools[0].cooldown.default', 'must be a duration > 0 such as "30s", "1m30s" or "6h", got "30 seconds"'],
  ['duplicate-account-id', 'pools[1].accounts[0].id', 'duplicate account id "shared-1" (first at pools[0].accounts[0].id)'],
  ['duplicate-pool-name', 'pools[1].name', 'duplicate pool name "openai" (first at pools[0].name)'],
  ['missing-match-two-pools', 'pools[1].match', 'is required when there is more than one pool'],
  ['cluster-in-two-pools', 'pools[1].match.clusters[1]', 'cluster "llm_openai" already belongs to another pool'],
  ['quota-group-in-two-pools', 'pools[1].accounts[0].quotaGroup', 'quota group "org-a" is already used by pool "openai"'],
  ['status-out-of-range', 'pools[0].failover.statuses[1]', 'must be an integer in 400..599, got 600'],
  ['weight-zero', 'pools[0].accounts[1].weight', 'must be a number > 0, got 0'],
  ['missing-secret-file', 'pools[0].accounts[0].secret.file', 'account oa-1: cannot read secret file /nonexistent/keyswitch-test/oa-1 (ENOENT)'],
  ['empty-secret-env', 'pools[0].accounts[0].secret.env', 'account oa-1: environment variable TEST_EMPTY_KEY is empty'],
  ['secret-env-reserved-prefix', 'pools[0].accounts[0].secret.env', 'KEYSWITCH_OA_1: the KEYSWITCH_ prefix is reserved'],
  ['secret-file-and-env', 'pools[0].accounts[0].secret', 'must set exactly one of file or env'],
  ['bad-header-name', 'pools[0].credential.header', 'must be an HTTP header name (token characters only), got "x api key"'],
  ['disable-on-overlaps-statuses', 'pools[0].failover.statuses', 'status 401 is in both statuses (cool down) and disableOn (disable)'],
  ['disabled-fraction-over-one', 'pools[0].health.maxDisabledFraction', 'must be a number in 0..1, got 1.5'],
  ['probe-bad-duration', 'pools[0].health.probeAfter', 'must be a duration > 0'],
  ['probe-after-over-max', 'pools[0].health.probeAfter', 'must not be longer than probeMax'],
  ['body-rule-bad-class', 'pools[0].errorBodies.rules[0].class', 'must be one of billing, rate-limit, overload, request, got "broke"'],
  ['body-rule-matches-everything', 'pools[0].errorBodies.rules[0]', 'needs path (with equals or contains) or contains'],
  ['cooldown-default-over-max', 'pools[0].cooldown.default', 'must not be longer than max "1h", got "2h"'],
];

describe('config errors: one fixture per failure', () => {
  for (const [name, path, message] of ONE_PROBLEM) {
    it(`${name}.yaml names the file and ${path}`, () => {
      const file = join(FIXTURES, `${name}.yaml`);
      const problems = problemsOf(() => loadConfigFile(file, ENV));
      assert.deepEqual(problems.length, 1, problems.join('\n'));
      const problem = problems[0] ?? '';
      assert.ok(problem.startsWith(`${file}: ${path}: `), problem);
      assert.ok(problem.includes(message), problem);
    });
  }

  it('a YAML syntax error names the file and the line', () => {
    const file = join(FIXTURES, 'yaml-syntax.yaml');
    const problems = problemsOf(() => loadConfigFile(file, ENV));
    assert.ok(problems.length >= 1);
    assert.match(problems[0] ?? '', new RegExp(`^${escape(file)}:[56]:\\d+: YAML syntax: `));
  });

  it('a duplicate YAML key is a syntax error with its line', () => {
    const text = 'pools:\n  - name: a\n    name: b\n    accounts: []\n';
    assert.deepEqual(problemsOf(() => parseConfig(text, 'dup.yaml', ENV)), ['dup.yaml:3:5: YAML syntax: Map keys must be unique']);
  });
});

describe('config errors: all at once', () => {
  it('reports every problem of a file in one throw', () => {
    const file = join(FIXTURES, 'many-problems.yaml');
    const problems = problemsOf(() => loadConfigFile(file, ENV));
    const expected = [
      'pools[0].name: must match [a-z0-9][a-z0-9_.-]*, got "OpenAI"',
      'pools[0].failover.maxAttempts: must be an integer in 1..10, got 11',
      'pools[0].sticky.headers: must not be empty',
      'pools[0].accounts[0].priority: must be an integer >= 0, got -1',
      'pools[0].accounts[1].secret.env: account oa-1: environment variable MISSING_VAR is not set',
      'pools[0].accounts[1].maxConcurrency: must be an integer >= 1, got 0',
      'pools[0].accounts[1].id: duplicate account id "oa-1"',
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    for (const fragment of expected) {
      assert.ok(
        problems.some((p) => p.startsWith(`${file}: ${fragment}`)),
        `missing ${fragment} in\n${problems.join('\n')}`,
      );
    }
  });

  it('rejects documents that are not a mapping with a pools list', () => {
    assert.deepEqual(problemsOf(() => parseConfig('', 'e.yaml', ENV)), ['e.yaml: must be a mapping, got null']);
    assert.deepEqual(problemsOf(() => parseConfig('[]', 'e.yaml', ENV)), ['e.yaml: must be a mapping, got a list']);
    assert.deepEqual(problemsOf(() => parseConfig('{}', 'e.yaml', ENV)), ['e.yaml: pools: is required and must list at least one pool']);
    assert.deepEqual(problemsOf(() => parseConfig('pools: []', 'e.yaml', ENV)), ['e.yaml: pools: must not be empty']);
    assert.deepEqual(problemsOf(() => parseConfig('pools:\n  - name: p\n', 'e.yaml', ENV)), [
      'e.yaml: pools[0].accounts: is required and must list at least one account',
    ]);
  });

  it('checks the smaller rules too', () => {
    const pool = (extra: string, account = ''): string =>
      `pools:\n  - name: p\n${extra}    accounts:\n      - id: a\n        secret: { env: OA_1 }\n${account}`;
    const cases: ReadonlyArray<readonly [string, string]> = [
      [pool('    match: { clusters: [] }\n'), 'pools[0].match.clusters: must not be empty'],
      [pool('    match: {}\n'), 'pools[0].match.clusters: is required and must list at least one cluster'],
      [pool('    stripHeaders: [x-api-key, X-API-KEY]\n'), 'pools[0].stripHeaders[1]: duplicate header "x-api-key"'],
      [pool('    credential: { header: host }\n'), 'pools[0].credential.header: Envoy ignores mutations of host'],
      [pool('    stripHeaders: [x-envoy-foo]\n'), 'pools[0].stripHeaders[0]: Envoy ignores mutations'],
      [pool('    credential: { prefix: "Bearer\\n" }\n'), 'pools[0].credential.prefix: must be a string without control characters'],
      [pool('    failover: { statuses: [429, 429] }\n'), 'pools[0].failover.statuses[1]: duplicate status 429'],
      [pool('    failover: { statuses: [429.5] }\n'), 'pools[0].failover.statuses[0]: must be an integer in 400..599, got 429.5'],
      [pool('    failover: { maxAttempts: 0 }\n'), 'pools[0].failover.maxAttempts: must be an integer in 1..10, got 0'],
      [pool('    cooldown: { overload: 7h }\n'), 'pools[0].cooldown.overload: must not be longer than the default max 6h, got "7h"'],
      [pool('    cooldown: { max: 10s }\n'), 'pools[0].cooldown.default: must not be longer than max "10s", got its default'],
      [pool('    cooldown: { default: 0s }\n'), 'pools[0].cooldown.default: must be a duration > 0'],
      [pool('    cooldown: { max: -1h }\n'), 'pools[0].cooldown.max: must be a duration > 0'],
      [pool('    sticky: { headers: [s], ttl: 0s }\n'), 'pools[0].sticky.ttl: must be a duration > 0'],
      [pool('    sticky: { headers: [s], maxBindings: 1.5 }\n'), 'pools[0].sticky.maxBindings: must be an integer >= 1, got 1.5'],
      [pool('    sticky: { ttl: 1h }\n'), 'pools[0].sticky.headers: is required'],
      [pool('    sticky: { headers: [s], bogus: 1 }\n'), 'pools[0].sticky.bogus: unknown key'],
      [pool('', '        weight: "x"\n'), 'pools[0].accounts[0].weight: must be a number > 0, got "x"'],
      [pool('', '        weight: .inf\n'), 'pools[0].accounts[0].weight: must be a number > 0, got Infinity'],
      [pool('', '        quotaGroup: ""\n'), 'pools[0].accounts[0].quotaGroup: must be a non-empty string'],
      [pool('', '        priority: 1.5\n'), 'pools[0].accounts[0].priority: must be an integer >= 0, got 1.5'],
      ['pools:\n  - name: p\n    accounts:\n      - id: Bad_Id\n        secret: { env: OA_1 }\n', 'pools[0].accounts[0].id: must match'],
      ['pools:\n  - name: p\n    accounts:\n      - secret: { env: OA_1 }\n', 'pools[0].accounts[0].id: is required'],
      ['pools:\n  - name: p\n    accounts:\n      - id: a\n', 'pools[0].accounts[0].secret: is required'],
      ['pools:\n  - accounts:\n      - id: a\n        secret: { env: OA_1 }\n', 'pools[0].name: is required'],
      ['pools:\n  - name: p\n    accounts: [oops]\n', 'pools[0].accounts[0]: must be a mapping, got "oops"'],
    ];
    for (const [text, expected] of cases) {
      const problems = problemsOf(() => parseConfig(text, 'c.yaml', ENV));
      assert.equal(problems.length, 1, `${expected}\n-> ${problems.join('\n')}`);
      assert.ok(problems[0]?.startsWith(`c.yaml: ${expected}`), `${expected}\n-> ${problems[0]}`);
    }
  });
});

describe('config errors: files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyswitch-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an unreadable config file is a ConfigError naming it', () => {
    const missing = join(dir, 'missing.yaml');
    assert.deepEqual(problemsOf(() => loadConfigFile(missing, ENV)), [`${missing}: cannot read config file (ENOENT)`]);
    assert.deepEqual(problemsOf(() => loadConfigFile(dir, ENV)), [`${dir}: cannot read config file (EISDIR)`]);
  });

  it('a secret file that exists but holds only whitespace is empty', () => {
    const secretFile = join(dir, 'blank');
    writeFileSync(secretFile, '  \n\n');
    const text = `pools:\n  - name: p\n    accounts:\n      - id: a\n        secret: { file: ${secretFile} }\n`;
    assert.deepEqual(problemsOf(() => parseConfig(text, 'c.yaml', ENV)), [
      `c.yaml: pools[0].accounts[0].secret.file: account a: secret file ${secretFile} is empty`,
    ]);
  });

  it('reads a secret file, trimming trailing whitespace', () => {
    const secretFile = join(dir, 'key');
    writeFileSync(secretFile, 'file-key-1\r\n');
    const text = `pools:\n  - name: p\n    accounts:\n      - id: a\n        secret: { file: ${secretFile} }\n`;
    assert.equal(parseConfig(text, 'c.yaml', ENV).pools[0]?.secrets.get('a')?.reveal(), 'file-key-1');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
