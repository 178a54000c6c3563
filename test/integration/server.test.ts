import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { connect, openProcess, requestHeaders, responseHeaders } from '../support/extproc-client';
import { eventually, startKeyswitch } from '../support/keyswitch';

function healthClient(address: string): grpc.Client & Record<string, any> {
  const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

function check(client: grpc.Client & Record<string, any>, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (error: Error | null, reply: { status: string }) => (error ? reject(error) : resolve(reply.status))),
  );
}

test('a unix socket of mode 0660 in the group given, serving ext_proc and health', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-sock-'));
  const socket = path.join(dir, 'ext_proc.sock');
  // A group the test process is not in by default: keyswitch runs as root here, so chown works.
  const group = 4242;
  const keyswitch = await startKeyswitch({ listen: `unix:${socket}`, settings: { grpcSocketGroup: group } });
  try {
    assert.equal(keyswitch.address, `unix:${socket}`);
    const stat = await fs.stat(socket);
    assert.equal(stat.mode & 0o777, 0o660, 'the owner and the group (Envoy, through the pod fsGroup) only');
    assert.equal(stat.gid, group);
    const health = healthClient(keyswitch.address);
    assert.equal(await check(health, ''), 'SERVING');
    assert.equal(await check(health, 'envoy.service.ext_proc.v3.ExternalProcessor'), 'SERVING');
    health.close();

    const client = connect(keyswitch.address);
    const call = openProcess(client);
    call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
    assert.equal((await call.reply(1)).response, 'request_headers');
    call.call.end();
    await call.ended;
    client.close();
  } finally {
    await keyswitch.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a socket file left by a crashed run is replaced, not an error', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-sock-'));
  const socketPath = path.join(dir, 'ext_proc.sock');
  // A process killed with SIGKILL never unlinks its socket file.
  const crashed = spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(crashed.signal, 'SIGKILL');
  assert.ok((await fs.lstat(socketPath)).isSocket(), 'a stale socket file is left behind');
  const keyswitch = await startKeyswitch({ listen: `unix:${socketPath}` });
  try {
    const health = healthClient(keyswitch.address);
    assert.equal(await check(health, ''), 'SERVING');
    health.close();
  } finally {
    await keyswitch.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

function listServices(address: string): Promise<string[]> {
  const definition = protoLoader.loadSync(
    require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'),
    { keepCase: true },
  );
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const reflection = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise<string[]>((resolve, reject) => {
    const call = reflection.ServerReflectionInfo();
    call.on('data', (reply: any) => {
      resolve(reply.list_services_response.service.map((s: { name: string }) => s.name));
      call.end();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  }).finally(() => reflection.close());
}

test('reflection answers only when enabled', async () => {
  const off = await startKeyswitch();
  try {
    await assert.rejects(listServices(off.address), (error: grpc.ServiceError) => error.code === grpc.status.UNIMPLEMENTED);
  } finally {
    await off.stop();
  }
  const on = await startKeyswitch({ settings: { grpcReflection: true } });
  try {
    assert.ok((await listServices(on.address)).includes('envoy.service.ext_proc.v3.ExternalProcessor'));
  } finally {
    await on.stop();
  }
});

test('health turns NOT_SERVING when stopping', async () => {
  const keyswitch = await startKeyswitch();
  const health = healthClient(keyswitch.address);
  const watch = health.Watch({ service: '' });
  const seen: string[] = [];
  let serving!: () => void;
  const firstUpdate = new Promise<void>((resolve) => (serving = resolve));
  const notServing = new Promise<void>((resolve) =>
    watch.on('data', (reply: { status: string }) => {
      seen.push(reply.status);
      if (reply.status === 'SERVING') serving();
      if (reply.status === 'NOT_SERVING') resolve();
    }),
  );
  watch.on('error', () => undefined);
  await firstUpdate;
  const stopped = keyswitch.stop();
  await notServing;
  watch.cancel();
  health.close();
  await stopped;
  assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
});

test('stopping lets an open attempt finish: an LLM call may wait minutes for its response headers', async () => {
  const keyswitch = await startKeyswitch();
  const client = connect(keyswitch.address);
  const call = openProcess(client);
  call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
  await call.reply(1);
  let stopped = false;
  const stopping = keyswitch.stop().then(() => (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(stopped, false, 'still waiting for the open attempt');
  call.send(responseHeaders(200));
  await call.reply(2);
  call.call.end();
  assert.equal((await call.ended).code, grpc.status.OK);
  await stopping;
  client.close();
});

test('after the shutdown grace, streams still open are closed and their attempts freed', async () => {
  const keyswitch = await startKeyswitch({ settings: { shutdownGraceMs: 200 } });
  const client = connect(keyswitch.address);
  const call = openProcess(client);
  call.send(requestHeaders({}, { 'xds.cluster_name': 'llm_openai' }));
  await call.reply(1);
  await keyswitch.stop();
  assert.notEqual((await call.ended).code, grpc.status.OK);
  await eventually(() => keyswitch.app.activeAttempts() === 0, 'attempt freed');
  assert.ok(keyswitch.logs.some((line) => String(line.msg).startsWith('shutdown grace over')));
  client.close();
});

test('a socket another keyswitch is still serving on is left alone', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-sock-'));
  const socket = `unix:${path.join(dir, 'ext_proc.sock')}`;
  const first = await startKeyswitch({ listen: socket });
  try {
    await assert.rejects(startKeyswitch({ listen: socket }), /another process is listening on/);
    const health = healthClient(first.address);
    assert.equal(await check(health, ''), 'SERVING', 'the first one still serves');
    health.close();
  } finally {
    await first.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
