import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { browserSkip, launchChromium } from '../support/browser';
import { withGateway } from '../support/gateway';
import { httpRequest } from '../support/http-client';

// The status page in real headless Chromium against a real keyswitch behind the Envoy emulator.

const ENV = { KEY_A: 'sk-PAGE-SENTINEL-a', KEY_B: 'sk-PAGE-SENTINEL-b' };
const CONFIG = `
pools:
  - name: openai
    accounts:
      - { id: a, secret: { env: KEY_A }, priority: 0 }
      - { id: b, secret: { env: KEY_B }, priority: 1 }
`;
/** dist/test-artifacts: kept after the run, never tracked. */
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');

test('the status page renders the accounts, counts a cooldown down by itself, and its buttons act', { skip: browserSkip() }, async () => {
  await withGateway({ configYaml: CONFIG, env: ENV }, async (gateway) => {
    gateway.upstream.setAnswer(ENV.KEY_A, { status: 429, headers: { 'retry-after': '90' } });
    assert.equal((await gateway.send()).status, 200);
    const url = `http://${gateway.keyswitch.app.adminAddress}/`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(url);
      const row = (id: string) => page.locator(`tr[data-account="${id}"]`);
      await row('a').waitFor();
      assert.equal(await row('a').locator('.state').textContent(), 'cooling');
      assert.equal(await row('b').locator('.state').textContent(), 'available');
      const first = await row('a').locator('.countdown').textContent();
      assert.match(first ?? '', /^1m(2\d|30)s$/);
      await page.waitForTimeout(1_300);
      const later = await row('a').locator('.countdown').textContent();
      assert.notEqual(later, first, `the countdown moved without a reload (${first} → ${later})`);

      await row('b').locator('button[data-action="drain"]').click();
      await page.waitForFunction(`document.querySelector('tr[data-account="b"] .state')?.textContent === 'drained'`);
      const pools = JSON.parse((await httpRequest(`${url}v1/pools`)).body) as { pools: Array<{ accounts: Array<{ id: string; state: string }> }> };
      assert.equal(pools.pools[0]!.accounts[1]!.state, 'drained', 'the button changed the account, not only the page');

      const html = await page.content();
      assert.ok(!html.includes('PAGE-SENTINEL'), 'no secret on the page');
      assert.ok(requests.every((request) => request.startsWith(url)), `the page loads nothing from elsewhere: ${requests.join(', ')}`);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
