import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

// README's first command ends in `npm run demo`; this keeps it working.
test('the demo runs keyswitch on its embedded defaults and no client sees a 401 or a 429', () => {
  const demo = path.resolve(__dirname, '../demo/demo.js');
  const result = spawnSync(process.execPath, [demo], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } });
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /keyswitch started .*"config":"<embedded demo config>"/);
  assert.match(result.stdout, /recovered by failover: [1-9]/);
  // Only the first wave's attempts picked before the first 401 came back can reach demo-a.
  assert.match(result.stdout, /upstream 401s from demo-a: [1-5] /);
  assert.match(result.stdout, /account disabled until its probe .*"account":"demo-a"/);
  assert.match(result.stdout, /client-visible 401s: 0$/m);
  assert.match(result.stdout, /client-visible 429s: 0$/m);
});
