import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SETTINGS } from '../../src/settings';

const MAIN = path.resolve(__dirname, '../../src/main.js');

function run(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help lists every setting and exits 0', () => {
  const { status, stdout } = run(['--help'], {});
  assert.equal(status, 0);
  for (const setting of SETTINGS) assert.ok(stdout.includes(setting.name), setting.name);
});

/** A fatal start-up failure: exit 2, nothing on stdout, one plain line on stderr, no stack. */
function assertOneLineFailure(result: { status: number | null; stdout: string; stderr: string }, expected: RegExp | string): void {
  assert.equal(result.status, 2, result.stderr);
  assert.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  if (typeof expected === 'string') assert.equal(lines[0], expected);
  else assert.match(lines[0]!, expected);
  assert.doesNotMatch(result.stderr, /\n\s+at |No address added/, 'no stack trace, no grpc-js line');
}

test('--version prints the package version', () => {
  const { status, stdout } = run(['--version'], {});
  assert.equal(status, 0);
  assert.equal(stdout, `keyswitch ${(JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version}\n`);
});

test('an unknown argument exits 2 with the usage line and never starts the demo pool', () => {
  for (const args of [['--conifg', 'x.yaml'], ['bogus'], ['--config']]) {
    const { status, stdout, stderr } = run(args, { KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0' });
    assert.equal(status, 2, args.join(' '));
    assert.equal(stdout, '', 'nothing started');
    assert.match(stderr, /^keyswitch: (unknown argument "(--conifg|bogus)"|--config: expected a file path)\nUsage: keyswitch /, stderr);
  }
});

test('an unknown KEYSWITCH_ variable exits 2 naming it and the closest setting; all problems at once', () => {
  const { status, stdout, stderr } = run([], { KEYSWITCH_GRPC_LISTN: '127.0.0.1:0', KEYSWITCH_LOG_LEVEL: 'loud' });
  assert.equal(status, 2);
  assert.equal(stdout, '');
  assert.match(stderr, /^keyswitch: KEYSWITCH_GRPC_LISTN: not a keyswitch setting; did you mean KEYSWITCH_GRPC_LISTEN\?$/m);
  assert.match(stderr, /^keyswitch: KEYSWITCH_LOG_LEVEL: expected one of/m);
});

test('a port in use exits 2 naming the setting, the address and the cause', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(holder.address() as net.AddressInfo).port}`;
  try {
    assertOneLineFailure(run([], { KEYSWITCH_GRPC_LISTEN: address }), `keyswitch: KEYSWITCH_GRPC_LISTEN ${address}: address already in use (EADDRINUSE)`);
  } finally {
    holder.close();
  }
});

test('a failure after the gRPC server is bound (admin port in use) closes it and exits 2, never hangs', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(holder.address() as net.AddressInfo).port}`;
  try {
    const result = run([], { KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0', KEYSWITCH_ADMIN_LISTEN: address });
    assertOneLineFailure(result, `keyswitch: KEYSWITCH_ADMIN_LISTEN ${address}: address already in use (EADDRINUSE)`);
  } finally {
    holder.close();
  }
});

test('a TCP ext_proc listener off loopback is refused unless explicitly allowed', () => {
  assertOneLineFailure(
    run([], { KEYSWITCH_GRPC_LISTEN: '0.0.0.0:0' }),
    'keyswitch: KEYSWITCH_GRPC_LISTEN: 0.0.0.0:0 is off loopback and hands account keys to anyone who reaches it; ' +
      'use a unix socket, or set KEYSWITCH_GRPC_ALLOW_REMOTE=true behind a network policy',
  );
});

test('an admin listener off loopback without a token file is refused at start', () => {
  const result = run([], { KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0', KEYSWITCH_ADMIN_LISTEN: '0.0.0.0:0' });
  assertOneLineFailure(result, 'keyswitch: KEYSWITCH_ADMIN_LISTEN: 0.0.0.0:0 is off loopback, so KEYSWITCH_ADMIN_TOKEN_FILE must be set');
});

test('unix socket paths that cannot be served exit 2 with their cause', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-sock-'));
  const live = path.join(dir, 'live.sock');
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(live, resolve));
  const regular = path.join(dir, 'regular.sock');
  await fs.writeFile(regular, 'not a socket');
  try {
    const cases: Array<[string, string]> = [
      [live, 'another process is listening on this socket'],
      [regular, 'a file that is not a socket is in the way; remove it or pick another path'],
      [path.join(dir, 'missing', 'x.sock'), `folder ${path.join(dir, 'missing')} does not exist`],
    ];
    for (const [socket, cause] of cases) {
      assertOneLineFailure(run([], { KEYSWITCH_GRPC_LISTEN: `unix:${socket}` }), `keyswitch: KEYSWITCH_GRPC_LISTEN unix:${socket}: ${cause}`);
    }
    assert.equal(await fs.readFile(regular, 'utf8'), 'not a socket', 'the file in the way is left alone');
  } finally {
    holder.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
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

test('starts on the embedded defaults, logs JSON with level names only, stops cleanly on SIGTERM', async () => {
  // A level name in any case, and a grace of 0 (close at once), are valid settings.
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0',
      KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0',
      KEYSWITCH_LOG_LEVEL: 'DEBUG',
      KEYSWITCH_DRAIN_SECONDS: '0',
      KEYSWITCH_SHUTDOWN_GRACE_SECONDS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
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
  assert.equal(stderr, '', 'a running keyswitch writes nothing to stderr');
  for (const line of stdout.trimEnd().split('\n')) {
    const entry = JSON.parse(line) as { level: unknown };
    assert.ok(['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(entry.level as string), line);
  }
  assert.ok(!stdout.includes('demo-key-'), 'no key in the logs, not even a placeholder');
});
