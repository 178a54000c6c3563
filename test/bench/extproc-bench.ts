/**
 * What keyswitch adds to an attempt on the wire: the same Envoy-side client drives keyswitch and
 * a bare grpc-js ext_proc server (same proto, replies with empty mutations) on unix sockets in
 * the same run, and the figures are printed as ratios to that baseline.
 */
import * as grpc from '@grpc/grpc-js';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXT_PROC_SERVICE, loadExtProcDefinition } from '../../src/extproc/protos';
import { connect, openProcess, requestHeaders, responseHeaders } from '../support/extproc-client';
import { startKeyswitch } from '../support/keyswitch';
import { gc } from './scheduler-bench';

const SEQUENTIAL = 2_000;
const CONCURRENT_TOTAL = 6_000;
const IN_FLIGHT = 200;
const OPEN_STREAMS = 2_000;

type Client = ReturnType<typeof connect>;

/** One attempt as Envoy runs it: request headers, response headers (429 every 10th), end. */
async function attempt(client: Client, i: number): Promise<void> {
  const call = openProcess(client);
  call.send(requestHeaders({ 'x-request-id': `bench-${i}`, authorization: 'Bearer client' }, { 'xds.cluster_name': 'llm_openai', 'upstream.request_attempt_count': 1 }));
  await call.reply(1);
  call.send(responseHeaders(i % 10 === 0 ? 429 : 200, { 'retry-after': '1' }));
  await call.reply(2);
  call.call.end();
  await call.ended;
}

async function sequential(client: Client): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i += 1) {
    const start = process.hrtime.bigint();
    await attempt(client, i);
    latencies.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  return latencies.sort((a, b) => a - b);
}

async function concurrent(client: Client): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT_TOTAL) await attempt(client, next++);
    }),
  );
  return CONCURRENT_TOTAL / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Heap per attempt held open after its request headers (server and client side together). */
async function heapPerOpenAttempt(client: Client): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const calls = Array.from({ length: OPEN_STREAMS }, (_, i) => {
    const call = openProcess(client);
    call.send(requestHeaders({ 'x-request-id': `open-${i}` }, { 'xds.cluster_name': 'llm_openai' }));
    return call;
  });
  await Promise.all(calls.map((call) => call.reply(1)));
  gc();
  const perStream = (process.memoryUsage().heapUsed - before) / OPEN_STREAMS;
  for (const call of calls) call.call.end();
  await Promise.all(calls.map((call) => call.ended));
  return perStream;
}

async function startBaseline(socket: string): Promise<grpc.Server> {
  const server = new grpc.Server();
  const definition = loadExtProcDefinition()[EXT_PROC_SERVICE] as grpc.ServiceDefinition;
  server.addService(definition, {
    Process: (call: grpc.ServerDuplexStream<any, any>) => {
      call.on('data', (message: { request?: string }) => call.write({ [message.request!]: { response: {} } }));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
  heap: number;
}

async function measure(address: string): Promise<Figures> {
  const client = connect(address);
  await attempt(client, -1);
  const latencies = await sequential(client);
  const perSecond = await concurrent(client);
  const heap = await heapPerOpenAttempt(client);
  client.close();
  return { p50: latencies[Math.floor(latencies.length / 2)]!, p99: latencies[Math.floor(latencies.length * 0.99)]!, perSecond, heap };
}

export async function extprocBench(): Promise<void> {
  const dir = os.tmpdir();
  const baselineSocket = path.join(dir, `keyswitch-bench-baseline-${process.pid}.sock`);
  const baselineServer = await startBaseline(baselineSocket);
  const baseline = await measure(`unix:${baselineSocket}`);
  baselineServer.forceShutdown();

  const keyswitch = await startKeyswitch({ listen: `unix:${path.join(dir, `keyswitch-bench-${process.pid}.sock`)}`, settings: { logLevel: 'info' } });
  const ours = await measure(keyswitch.address);
  await keyswitch.stop();

  console.log(`\next_proc attempt over a unix socket (request + response headers), node ${process.version}`);
  console.log(`  ${''.padEnd(30)} ${'baseline'.padStart(12)} ${'keyswitch'.padStart(12)} ${'ratio'.padStart(7)}`);
  const line = (label: string, base: number, value: number, unit: string) =>
    console.log(`  ${label.padEnd(30)} ${(base.toFixed(0) + unit).padStart(12)} ${(value.toFixed(0) + unit).padStart(12)} ${('x' + (value / base).toFixed(2)).padStart(7)}`);
  line(`p50 latency, sequential`, baseline.p50, ours.p50, ' us');
  line(`p99 latency, sequential`, baseline.p99, ours.p99, ' us');
  line(`attempts/s, ${IN_FLIGHT} in flight`, baseline.perSecond, ours.perSecond, '');
  line(`heap per open attempt`, baseline.heap, ours.heap, ' B');
}
