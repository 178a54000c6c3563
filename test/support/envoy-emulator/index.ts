/**
 * Envoy emulator: a test-side stand-in for Envoy's HTTP connection manager + router + UPSTREAM
 * ext_proc filter, over real sockets, configured from the project's own envoy/envoy.yaml.
 *
 *   const envoy = await startEnvoyEmulator({
 *     bootstrapPath: 'envoy/envoy.yaml',
 *     extProcAddress: 'unix:/tmp/ks.sock',            // replaces the keyswitch cluster's pipe
 *     clusters: { llm_openai: upstream.url },          // replaces the provider endpoints
 *   });
 *   await fetch(`${envoy.url}/v1/chat/completions`, ...);
 *   envoy.lastRequestTrace?.attempts  // per attempt: ext_proc messages, upstream headers, retry
 *   await envoy.stop();
 *
 *   // attempt 1 never reaches the provider: its connection is refused 30ms after it started
 *   startEnvoyEmulator({ ..., failConnect: ({ attempt }) => (attempt === 1 ? 30 : undefined) });
 *
 * Behaviour it reproduces, and where in Envoy it comes from, is documented in each file:
 * router.ts (attempt loop, shared header map and dynamic metadata, retries), ext-proc-filter.ts
 * (ext_proc.cc), mode-override.ts (mode_override, allowed_override_modes), response-body.ts
 * (response bodies held for BUFFERED / BUFFERED_PARTIAL: headers wait for the response_body reply,
 * buffer limit, no timer while the body arrives), mutation.ts (mutation_utils.cc, the
 * mutation_rules.cc checker order, mutation_rules read from the bootstrap), retry-policy.ts
 * (retry_state_impl.cc: wouldRetryFromHeaders order incl. the x-envoy-ratelimited early return,
 * wouldRetryFromReset), upstream.ts (connect failure vs. started reset; failConnect's refused
 * connections), ext-proc-stream.ts (client_impl.cc), hcm.ts (connection manager).
 *
 * Test hooks: failConnect (below) for attempts that never reach the provider; the scripted
 * upstream's `chunks` / `chunkDelayMs` (slow or large bodies) and `reset: 'before-response'`.
 *
 * Known gaps versus a real Envoy: HTTP/1.1 only on both sides (no HTTP/2, no TLS); the request
 * body is fully buffered before attempt 1 (Envoy streams it) and goes to ext_proc as one message
 * in any body mode; a STREAMED response body goes as one message after the retry decision; trailers
 * are never sent; FULL_DUPLEX_STREAMED / GRPC body modes, observability_mode,
 * send_body_without_waiting_for_header_response and the ext_proc_graceful_grpc_close runtime guard
 * (off by default) are not modelled; a successful upstream connection is made after the request filters ran (Envoy
 * connects in parallel; only failConnect races them); no HCM stream_idle_timeout (in envoy.yaml the
 * only bound on a slow held response body), no route/per-try timeouts, max_stream_duration,
 * hedging, retry_host_predicate, rate_limited_retry_back_off, retriable_request_headers or gRPC
 * retry policies; x-envoy-* request headers from clients are neither honoured nor stripped;
 * attributes limited to request.{id,path,url_path,method,host,scheme},
 * upstream.request_attempt_count, xds.{route_name,cluster_name}, response.code; header count/size
 * limits not enforced; typed metadata namespaces, forward_rules, override_message_timeout and
 * per-route ext_proc overrides are ignored; 503 reset texts are simplified.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { officialExtProcClient, officialRoot, EXT_PROC_SERVICE_FILE } from '../official-protos';
import { type BootstrapModel, parseBootstrap } from './bootstrap';
import { type AttemptInfo, type EmulatorEnv, LiveCalls } from './env';
import type { StreamCloseMode } from './ext-proc-stream';
import { handleDownstream } from './hcm';
import type { ValueOnlyMutation } from './mutation';
import { type RequestTrace, Stats } from './trace';
import { closedLoopbackPort } from './upstream';
import { listenOnLoopback } from '../listen';

export interface EnvoyEmulatorOptions {
  /** Path of the Envoy bootstrap YAML (e.g. envoy/envoy.yaml). One of bootstrapPath/bootstrapYaml. */
  bootstrapPath?: string;
  /** Bootstrap YAML text (for tests that need a variant of the real file). */
  bootstrapYaml?: string;
  /** The ext_proc server: "unix:/path/to.sock" or "127.0.0.1:port" (replaces the pipe path). */
  extProcAddress: string;
  /** Cluster name → "http://127.0.0.1:port" of a scripted upstream (replaces provider endpoints). */
  clusters: Record<string, string>;
  /** Overrides every ext_proc filter's message_timeout (ms). */
  messageTimeoutMs?: number;
  /**
   * Envoy >= 1.37 closes the ext_proc stream as soon as no more messages can be needed
   * (ext_proc_stream_close_optimization): after response_headers with SEND, or right after
   * request_headers when the response phase is SKIP. Default true. With false the stream stays
   * open until the attempt ends (retry decided, local reply, or response body relayed).
   */
  closeStreamWhenDone?: boolean;
  /**
   * How the emulator ends a stream (both for the early close and when the attempt ends).
   * Default 'half-close-then-cancel' (client_impl.cc close(): closeStream() then resetStream()).
   */
  streamCloseMode?: StreamCloseMode;
  /** set_headers entries with only `value`: 'empty' (default; Envoy >= 1.32 reads raw_value) or 'ignore'. */
  valueOnlyMutation?: ValueOnlyMutation;
  /**
   * Attempts that never reach the provider: return when that attempt's connection is refused (a
   * real ECONNREFUSED from a closed loopback port): a delay in ms from the start of the attempt, or
   * a promise that settles when the refusal should be reported. undefined connects normally.
   * Envoy asks the pool for a connection before the upstream filters run (upstream_request.cc
   * acceptHeadersFromRouter), so the failure races the ext_proc request_headers exchange: refused
   * while ext_proc waits, the attempt is reset and the processor's reply is never applied; refused
   * after the reply, its mutations and dynamic metadata stay. Either way the attempt's Process
   * stream sees request_headers only and is then closed (ext_proc.cc onDestroy), and
   * wouldRetryFromReset decides (connect-failure / reset-before-request). A refusal right at the
   * start can even beat the processor's sight of the stream, as in Envoy.
   */
  failConnect?: (attempt: AttemptInfo) => number | Promise<unknown> | undefined;
}

export interface EnvoyEmulator {
  /** http://127.0.0.1:<port> — the listener (real HTTP/1.1). */
  readonly url: string;
  readonly port: number;
  /** What the emulator read from the bootstrap. */
  readonly bootstrap: BootstrapModel;
  /** One entry per downstream request, in arrival order. Complete once the response was written. */
  readonly traces: RequestTrace[];
  readonly lastRequestTrace: RequestTrace | undefined;
  /** Envoy-style counters (upstream_rq_retry, ext_proc.message_timeouts, ...). */
  readonly stats: Stats;
  clearTraces(): void;
  /**
   * Resolves once every ext_proc call the emulator opened has received its final gRPC status
   * (useful after a response, before asserting how streams ended). Streams left open on purpose
   * (streamCloseMode 'half-close' against a server that never finishes) keep it pending.
   */
  extProcIdle(): Promise<void>;
  /** Close the listener, cancel open ext_proc streams, close the gRPC channel and upstream pool. */
  stop(): Promise<void>;
}

let statusCodes: Record<string, number> | undefined;

/** envoy.type.v3.StatusCode from the official protos (ImmediateResponse.status decodes to names). */
function statusCodeTable(): Record<string, number> {
  statusCodes ??= { ...officialRoot([EXT_PROC_SERVICE_FILE]).lookupEnum('envoy.type.v3.StatusCode').values };
  return statusCodes;
}

export async function startEnvoyEmulator(options: EnvoyEmulatorOptions): Promise<EnvoyEmulator> {
  const source = options.bootstrapPath ?? '<bootstrapYaml>';
  const text = options.bootstrapYaml ?? (options.bootstrapPath === undefined ? undefined : fs.readFileSync(options.bootstrapPath, 'utf8'));
  if (text === undefined) throw new Error('startEnvoyEmulator: bootstrapPath or bootstrapYaml is required');
  const bootstrap = parseBootstrap(text, source);
  const Client = officialExtProcClient();
  const grpcCluster = [...bootstrap.clusters.values()].find((c) => c.extProc !== undefined)?.extProc?.grpcClusterName;
  // Envoy's gRPC client sends the cluster name as :authority for envoy_grpc services.
  const client = new Client(options.extProcAddress, grpc.credentials.createInsecure(),
    grpcCluster === undefined ? {} : { 'grpc.default_authority': grpcCluster }) as unknown as EmulatorEnv['client'];
  const agent = new http.Agent({ keepAlive: true });
  const stats = new Stats();
  const env: EmulatorEnv = {
    client, agent, stats,
    messageTimeoutMs: options.messageTimeoutMs,
    closeWhenDone: options.closeStreamWhenDone ?? true,
    closeMode: options.streamCloseMode ?? 'half-close-then-cancel',
    valueOnly: options.valueOnlyMutation ?? 'empty',
    statusCodes: statusCodeTable(),
    activeRetries: new Map(),
    liveCalls: new LiveCalls(),
    failConnect: options.failConnect,
    closedPort: await closedLoopbackPort(),
  };
  const traces: RequestTrace[] = [];
  const server = http.createServer((req, res) => {
    void handleDownstream({ env, model: bootstrap, clusters: options.clusters, traces }, req, res);
  });
  const { url, port } = await listenOnLoopback(server);
  return {
    url,
    port,
    bootstrap,
    traces,
    get lastRequestTrace() { return traces[traces.length - 1]; },
    stats,
    clearTraces: () => { traces.length = 0; },
    extProcIdle: () => env.liveCalls.idle(),
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      env.liveCalls.cancelAll();
      client.close();
      agent.destroy();
      await closed;
    },
  };
}

export type { RequestTrace, AttemptTrace, ExtProcTrace, ExtProcOutcome, ExtProcStreamEnd, StatName } from './trace';
export type { StreamCloseMode } from './ext-proc-stream';
export type { AttemptInfo } from './env';
export type { ValueOnlyMutation } from './mutation';
export type { BootstrapModel } from './bootstrap';
export { HeaderMap } from './header-map';
export * from './wire';
