import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import { test } from 'node:test';
import { connect, openProcess, requestHeaders, responseHeaders } from '../support/extproc-client';

// SIGTERM under load on the built entry point, the way Kubernetes stops a pod: readiness goes
// away at once, new streams (a retry of a request already in flight) are still answered during
// the drain window, and nothing is cut inside it.

const MAIN = path.resolve(__dirname, '../../src/main.js');

function start(env: Record<string, string>): { child: ChildProcess; lines: string[]; started: Promise<Record<string, any>>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', KEYSWITCH_GRPC_LISTEN: '127.0.0.1:0', KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let pending = '';
  const started = new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line: ${lines.join('\n')}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const complete = pending.split('\n');
      pending = complete.pop()!;
      for (const line of complete) {
        lines.push(line);
        if (line.includes('"keyswitch started"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      }
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, started, exited };
}

/** One attempt: request headers, a 200, half-close; resolves with the gRPC status code. */
async function attempt(client: ReturnType<typeof connect>, id: number): Promise<number> {
  const call = openProcess(client);
  call.send(requestHeaders({ 'x-request-id': `drain-${id}` }, { 'xds.cluster_name': 'llm_openai' }));
  await call.reply(1);
  call.send(responseHeaders(200));
  await call.reply(2);
  call.call.end();
  return (await call.ended).code;
}

test('SIGTERM under load: streams opened during the drain window are answered, none is cut, exit 0', async () => {
  const keyswitch = start({ KEYSWITCH_DRAIN_SECONDS: '2', KEYSWITCH_SHUTDOWN_GRACE_SECONDS: '5' });
  const { grpc: address } = await keyswitch.started;
  const client = connect(address);
  const results: Array<{ openedAt: number; code: Promise<number> }> = [];
  let id = 0;
  // A bounded load: one new attempt every 20 ms for 2.6 s, SIGTERM after 0.6 s.
  const load = (async () => {
    for (const until = Date.now() + 2_600; Date.now() < until; ) {
      results.push({ openedAt: Date.now(), code: attempt(client, (id += 1)).catch(() => -1) });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 600));
  const signalledAt = Date.now();
  keyswitch.child.kill('SIGTERM');
  await load;
  const codes = await Promise.all(results.map(async ({ openedAt, code }) => ({ openedAt, code: await code })));
  // Streams opened well inside the 2 s drain window (the margin covers the signal's delivery).
  const inWindow = codes.filter(({ openedAt }) => openedAt < signalledAt + 1_700);
  assert.deepEqual(inWindow.filter(({ code }) => code !== grpc.status.OK), [], 'no stream failed inside the drain window');
  assert.ok(inWindow.filter(({ openedAt }) => openedAt > signalledAt).length > 20, 'many were opened after SIGTERM');
  client.close();
  assert.equal(await keyswitch.exited, 0);
  const last = JSON.parse(keyswitch.lines.at(-1)!) as { msg: string };
  assert.equal(last.msg, 'keyswitch stopped', 'the last log line is written before exit');
  assert.ok(keyswitch.lines.some((line) => line.includes('draining: not ready, still accepting streams')));
});

test('a second signal exits at once, without waiting for the drain', async () => {
  const keyswitch = start({ KEYSWITCH_DRAIN_SECONDS: '30' });
  await keyswitch.started;
  keyswitch.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = Date.now();
  keyswitch.child.kill('SIGTERM');
  assert.equal(await keyswitch.exited, 1);
  assert.ok(Date.now() - before < 5_000);
  assert.ok(keyswitch.lines.some((line) => line.includes('second signal: exiting at once')));
});
