import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { ConfigError, parseConfig, Secret } from '../../src/config';

/** Planted in every place a key can come from; no output may ever contain it. */
const SENTINEL = 'sk-SENTINEL-7f3a9c0e';

function assertClean(text: string, where: string): void {
  assert.ok(!text.includes(SENTINEL) && !text.includes('SENTINEL'), `${where} leaks the secret:\n${text}`);
}

function failure(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config secrets: redacted by construction', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyswitch-secrets-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'oa-1');
  writeFileSync(keyFile, `${SENTINEL}\n`);

  it('Secret shows itself as [redacted] everywhere but reveal()', () => {
    const secret = new Secret(SENTINEL);
    assert.equal(secret.reveal(), SENTINEL);
    assert.equal(String(secret), '[redacted]');
    assert.equal(`${secret}`, '[redacted]');
    assert.equal(JSON.stringify({ secret }), '{"secret":"[redacted]"}');
    assert.equal(inspect(secret), '[redacted]');
    assertClean(inspect(secret, { showHidden: true, depth: Infinity }), 'inspect');
    assert.deepEqual(Object.keys(secret), []);
    assert.ok(Object.isFrozen(secret));
  });

  it('a compiled config never shows its keys', () => {
    const text = [
      'pools:',
      '  - name: openai',
      '    accounts:',
      `      - id: oa-1`,
      `        secret: { file: ${keyFile} }`,
      '      - id: oa-2',
      '        secret: { env: OA_2 }',
    ].join('\n');
    const config = parseConfig(text, 'c.yaml', { OA_2: SENTINEL });
    const pool = config.pools[0];
    assert.equal(pool?.secrets.get('oa-1')?.reveal(), SENTINEL);
    assert.equal(pool?.secrets.get('oa-2')?.reveal(), SENTINEL);
    assertClean(JSON.stringify(config), 'JSON.stringify');
    assertClean(JSON.stringify([...(pool?.secrets ?? [])]), 'JSON.stringify of the secrets');
    assertClean(inspect(config, { depth: Infinity, showHidden: true }), 'util.inspect');
    assertClean(String(config), 'String');
    assertClean(`${[...(pool?.secrets.values() ?? [])].join(',')}`, 'join');
  });

  // Operators paste keys into the wrong place; none of these may echo it back.
  const misplaced: ReadonlyArray<readonly [string, string]> = [
    ['secret pasted as the value', `secret: ${SENTINEL}`],
    ['secret pasted as a list', `secret: [${SENTINEL}]`],
    ['secret under an unknown key', `secret: { value: ${SENTINEL} }`],
    ['secret as a key', `secret: { ${SENTINEL}: x }`],
    ['secret as the file', `secret: { file: ${SENTINEL} }`],
    ['secret as the env name', `secret: { env: ${SENTINEL} }`],
    ['secret as env with a file too', `secret: { file: /x, env: ${SENTINEL} }`],
    ['secret in a flow map with a syntax error', `secret: { env: "${SENTINEL} }`],
    ['secret after a flow map', `secret: { env: OA_1 } ${SENTINEL}`],
    ['secret as a second scalar', `secret: "x" "${SENTINEL}"`],
  ];
  for (const [name, line] of misplaced) {
    it(`errors do not echo a ${name}`, () => {
      const text = `pools:\n  - name: p\n    accounts:\n      - id: a\n        ${line}\n`;
      const error = failure(() => parseConfig(text, 'c.yaml', { OA_1: 'k' }, () => SENTINEL));
      assert.ok(error.problems.length >= 1);
      assertClean(error.message, 'message');
      assertClean(inspect(error, { depth: Infinity }), 'inspect of the error');
      assertClean(JSON.stringify(error.problems), 'problems');
    });
  }

  it('errors about unusable secret content name the source, never the content', () => {
    const multiLine = join(dir, 'multi');
    writeFileSync(multiLine, `${SENTINEL}\n${SENTINEL}\n`);
    const text = [
      'pools:',
      '  - name: p',
      '    accounts:',
      '      - id: a',
      `        secret: { file: ${multiLine} }`,
      '      - id: b',
      '        secret: { env: MULTI }',
      '      - id: c',
      '        secret: { env: OA_1 }',
      '        weight: 0',
    ].join('\n');
    const error = failure(() => parseConfig(text, 'c.yaml', { MULTI: `${SENTINEL}\r${SENTINEL}`, OA_1: SENTINEL }));
    assert.deepEqual(error.problems, [
      `c.yaml: pools[0].accounts[0].secret.file: account a: secret file ${multiLine} contains a line break or control character`,
      'c.yaml: pools[0].accounts[1].secret.env: account b: environment variable MULTI contains a line break or control character',
      'c.yaml: pools[0].accounts[2].weight: must be a number > 0, got 0',
    ]);
  });

  it('a reader error reports its code only, not its message', () => {
    const text = 'pools:\n  - name: p\n    accounts:\n      - id: a\n        secret: { file: /run/k }\n';
    const reader = (): string => {
      throw Object.assign(new Error(`EACCES reading ${SENTINEL}`), { code: 'EACCES' });
    };
    const error = failure(() => parseConfig(text, 'c.yaml', {}, reader));
    assert.deepEqual(error.problems, ['c.yaml: pools[0].accounts[0].secret.file: account a: cannot read secret file /run/k (EACCES)']);
  });
});
