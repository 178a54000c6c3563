import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SETTINGS } from '../../src/settings';

const MAIN = path.resolve(__dirname, '../../src/main.js');

function run(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help lists every setting and exits 0', () => {
  const { status, stdout } = run(['--help'], {});
  assert.equal(status, 0);
  for (const setting of SETTINGS) assert.ok(stdout.includes(setting.name), setting.name);
});

test('a bad setting exits 2 with a message naming it', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ KEYSWITCH_LOG_LEVEL: 'loud' }, 'KEYSWITCH_LOG_LEVEL'],
    [{ KEYSWITCH_GRPC_LISTEN: 'not an address' }, 'KEYSWITCH_GRPC_LISTEN'],
    [{ KEYSWITCH_GRPC_LISTEN: 'unix:relative.sock' }, 'KEYSWITCH_GRPC_LISTEN'],
    [{ KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:99999' }, 'KEYSWITCH_ADMIN_LISTEN'],
    [{ KEYSWITCH_GRPC_MAX_STREAMS: '0' }, 'KEYSWITCH_GRPC_MAX_STREAMS'],
  ];
  for (const [env, name] of cases) {
    const { status, stderr } = run([], env);
    assert.equal(status, 2, name);
    assert.match(stderr, new RegExp(name), stderr);
  }
});

test('a bad config file exits 2 naming the file and the field, without the secret', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-proc-'));
  const file = path.join(dir, 'config.yaml');
  await fs.writeFile(file, 'pools:\n  - name: p\n    accounts:\n      - id: a\n        secret: { env: SENTINEL_SECRET }\n        weight: heavy\n');
  const { status, stderr } = run(['--config', file], { SENTINEL_SECRET: 'sk-sentinel-do-not-print' });
  await fs.rm(dir, { recursive: true, force: true });
  assert.equal(status, 2);
  assert.ok(stderr.includes(file), stderr);
  assert.match(stderr, /accounts\[0\]\.weight/);
  assert.ok(!stderr.includes('sk-sentinel-do-not-print'));
});

test('starts on the embedded defaults, logs one start line, stops cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line: ${stdout}`)), 15_000);
    child.stdout.on('data', () => {
      // Only complete lines: a chunk may end in the middle of one.
      const line = stdout.split('\n').slice(0, -1).find((l) => l.includes('keyswitch started'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
  });
  const start = await started;
  assert.match(start.grpc, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(start.pools, ['demo']);
  assert.equal(start.accounts, 3);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(stdout.includes('keyswitch stopped'));
  assert.ok(!stdout.includes('demo-key-'), 'no key in the logs, not even a placeholder');
});
