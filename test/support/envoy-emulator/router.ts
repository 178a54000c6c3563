/**
 * The router filter's attempt loop for one downstream request (source/common/router/router.cc):
 * Filter::decodeHeaders starts attempt 1, Filter::doRetry starts the next ones. What it keeps
 * across attempts is exactly what Envoy keeps: the ONE request-header map (attempt N starts with
 * attempt N-1's mutations), the request's dynamic metadata, the buffered request body (each
 * attempt gets a copy), and the retry state. What it renews per attempt is the upstream filter
 * chain: a new ext_proc filter and Process stream (upstream_request.cc).
 *
 * Dynamic metadata is one map for the whole request whichever reply wrote it: ext_proc.cc stores
 * request-side replies through the decoder callbacks and response-side replies (response_headers,
 * response_body) through the encoder callbacks, and for an upstream filter both streamInfo()s are
 * the downstream request's (filter_manager.cc ActiveStreamFilterBase::streamInfo →
 * upstream_request.cc UpstreamFilterManager::streamInfo → parent_.callbacks()->streamInfo()). So
 * what attempt N's response_headers reply wrote is in attempt N+1's metadata_context.
 */
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import { attributes } from './attributes';
import type { ClusterModel, RouteModel, VirtualHostModel } from './bootstrap';
import { type FilterStatus, type LocalReply, localReply, UpstreamExtProcFilter } from './ext-proc-filter';
import { ExtProcStream } from './ext-proc-stream';
import type { EmulatorEnv } from './env';
import { HeaderMap } from './header-map';
import { processHeldBody, relayAfter } from './response-body';
import { type ResetReason, RetryState, type RetryVerdict, wouldRetryFromHeaders, wouldRetryFromReset } from './retry-policy';
import { type AttemptTrace, newExtProcTrace, type RequestTrace } from './trace';
import { readBody, refusedConnection, sendUpstream, type UpstreamCall } from './upstream';
import { fromPbStruct, type PbStruct } from './wire';

export interface RoutedRequest {
  vhost: VirtualHostModel;
  route: RouteModel;
  cluster: ClusterModel;
  upstreamUrl: string;
  /** The shared request-header map (HCM + router mutations already applied). */
  headers: HeaderMap;
  body: Buffer;
  /** False when the body outgrew the buffer limit (router.cc decodeData: retry_or_shadow_abandoned). */
  retriesAllowed: boolean;
  /** The stream's buffer limit, which the upstream filter chain inherits (upstream_request.cc). */
  bufferLimitBytes: number;
  trace: RequestTrace;
  downstreamGone(): boolean;
}

/** What goes back to the client. `done` runs after the body has been relayed. */
export interface RoutedResponse {
  headers: HeaderMap; // includes :status
  body: Buffer | Readable;
  local: LocalReply | undefined;
  done(): void;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function responseHeaderMap(response: http.IncomingMessage): HeaderMap {
  const map = new HeaderMap();
  map.add(':status', String(response.statusCode ?? 0));
  for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) {
    const name = (response.rawHeaders[i] ?? '').toLowerCase();
    if (!HOP_BY_HOP.has(name)) map.add(name, response.rawHeaders[i + 1] ?? '');
  }
  return map;
}

function fromLocal(reply: LocalReply, trace: RequestTrace): RoutedResponse {
  const headers = reply.headers.clone();
  headers.set(':status', String(reply.status));
  trace.final = { status: reply.status, source: 'local-reply', details: reply.details, headers: headers.entries() };
  return { headers, body: reply.body, local: reply, done: () => {} };
}

function newAttempt(attempt: number): AttemptTrace {
  return { attempt, extProc: undefined, upstreamRequestHeaders: undefined, upstreamRequestBody: undefined, upstreamStatus: undefined,
    filteredResponseHeaders: undefined, reset: undefined, retry: { decision: 'not-evaluated', reason: '' } };
}

const NEVER = new Promise<never>(() => {});

/** Run attempts until a final response; bounded by num_retries + 1 attempts. */
export async function routeRequest(env: EmulatorEnv, req: RoutedRequest): Promise<RoutedResponse> {
  const { route, cluster, headers, trace } = req;
  const dynamicMetadata = new Map<string, PbStruct>();
  const retryState = route.retryPolicy !== undefined && req.retriesAllowed ? new RetryState(route.retryPolicy) : undefined;
  const maxAttempts = (retryState?.policy.numRetries ?? 0) + 1;
  const finish = (): void => {
    for (const [ns, struct] of dynamicMetadata) trace.dynamicMetadata[ns] = fromPbStruct(struct);
  };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    // Filter::decodeHeaders (attempt 1) and Filter::doRetry (later ones) write the attempt count
    // into the shared map before the upstream filters run.
    if (req.vhost.includeRequestAttemptCount) headers.set('x-envoy-attempt-count', String(attempt));
    const at = newAttempt(attempt);
    trace.attempts.push(at);
    let responseStatus = 0;
    const filter = cluster.extProc === undefined ? undefined : (() => {
      const extTrace = newExtProcTrace();
      at.extProc = extTrace;
      const config = env.messageTimeoutMs === undefined ? cluster.extProc : { ...cluster.extProc, messageTimeoutMs: env.messageTimeoutMs };
      const stream = new ExtProcStream(env.client, extTrace, () => env.stats.inc('ext_proc.streams_started'), env.liveCalls);
      return new UpstreamExtProcFilter(config, stream, extTrace, env.stats, {
        closeWhenDone: env.closeWhenDone, closeMode: env.closeMode, valueOnly: env.valueOnly,
        dynamicMetadata, statusCodes: env.statusCodes,
        attributes: (names) => attributes(names, { headers, attempt, route, cluster, responseStatus }),
      });
    })();
    const destroy = (why: string): void => filter?.onDestroy(why);
    /** An upstream reset: retried (undefined, after the backoff) or the final 503. */
    const onReset = async (reason: ResetReason, message: string): Promise<RoutedResponse | undefined> => {
      at.reset = `${reason}: ${message}`;
      destroy('upstream reset');
      let verdict: RetryVerdict = retryState === undefined ? { retry: false, reason: 'no retry policy' } : wouldRetryFromReset(retryState.policy, reason);
      verdict = admitRetry(env, retryState, cluster, verdict, at, req);
      if (verdict.retry && retryState !== undefined) {
        await backOff(env, retryState, cluster, at);
        return undefined;
      }
      finish();
      const detail = reason === 'connect-failure' ? 'connection failure' : 'remote reset';
      return fromLocal(localReply(503, `upstream_reset_before_response_started{${detail}}`,
        `upstream connect error or disconnect/reset before headers. reset reason: ${detail}`), trace);
    };
    // upstream_request.cc acceptHeadersFromRouter asks the pool for a connection before the
    // upstream filters run, so a scripted connect failure races the ext_proc exchange.
    const refuseAt = env.failConnect?.({ cluster: cluster.name, attempt, requestId: trace.requestId });
    const poolFailure = refuseAt === undefined ? undefined : refusedConnection(env.closedPort, refuseAt);
    // The router replays a COPY of the buffered body to each attempt (router.cc doRetry).
    const body = { data: Buffer.from(req.body) };
    const filtered = (async (): Promise<FilterStatus> => {
      if (filter === undefined) return { kind: 'continue' };
      const status = await filter.decodeHeaders(headers, body.data.length === 0, body);
      return status.kind === 'continue' ? filter.decodeBody(headers, body) : status;
    })();
    const status = await Promise.race([filtered, poolFailure ?? NEVER]);
    if (status.kind === 'reset') {
      const out = await onReset(status.reason, status.message);
      if (out === undefined) continue;
      return out;
    }
    if (status.kind === 'local-reply') {
      // Upstream-filter local replies go through the downstream filter manager: final, never retried.
      destroy('local reply');
      finish();
      return fromLocal(status.reply, trace);
    }
    // auto_host_rewrite happens when the connection pool is ready (upstream_request.cc
    // onPoolReady), on the shared map; the emulator connects after the filters ran.
    if (route.autoHostRewrite && cluster.endpointHost !== undefined) headers.set(':authority', cluster.endpointHost);
    let call: UpstreamCall = { result: poolFailure ?? NEVER, abort: () => {} };
    if (poolFailure === undefined) {
      at.upstreamRequestHeaders = headers.entries();
      at.upstreamRequestBody = body.data;
      call = sendUpstream(req.upstreamUrl, env.agent, headers, body.data);
    }
    const raced = await Promise.race([call.result, filter?.asyncFailure ?? NEVER]);
    if ('reply' in raced || raced.kind === 'continue') {
      call.abort();
      destroy('ext_proc failed while waiting for upstream');
      finish();
      return fromLocal(raced.kind === 'local-reply' ? raced.reply : localReply(500, 'emulator_bug'), trace);
    }
    if (raced.kind === 'reset') {
      const out = await onReset(raced.reason, raced.message);
      if (out === undefined) continue;
      return out;
    }
    const response = raced.response;
    const responseHeaders = responseHeaderMap(response);
    at.upstreamStatus = response.statusCode;
    responseStatus = response.statusCode ?? 0;
    const endOfStream = response.headers['content-length'] === '0' || responseStatus === 204 || responseStatus === 304
      || headers.get(':method') === 'HEAD';
    const headersStatus = filter === undefined ? { kind: 'continue' as const } : await filter.encodeHeaders(responseHeaders, endOfStream);
    if (headersStatus.kind === 'local-reply') {
      response.destroy();
      destroy('local reply');
      finish();
      return fromLocal(headersStatus.reply, trace);
    }
    let heldBody: { body: Buffer; rest: http.IncomingMessage | undefined } | undefined;
    const held = endOfStream ? undefined : filter?.holdsResponseHeaders();
    if (filter !== undefined && held !== undefined) {
      const outcome = await processHeldBody(filter, held, responseHeaders, response, req.bufferLimitBytes);
      if (outcome.kind === 'reset') {
        const out = await onReset('reset', outcome.message);
        if (out === undefined) continue;
        return out;
      }
      if (outcome.kind === 'local-reply') {
        destroy('local reply');
        finish();
        return fromLocal(outcome.reply, trace);
      }
      heldBody = outcome;
    }
    at.filteredResponseHeaders = responseHeaders.entries();
    // The retry decision reads the FILTERED headers (upstream_request.cc decodeHeaders →
    // router.cc onUpstreamHeaders → retry_state_impl.cc shouldRetryHeaders).
    let verdict: RetryVerdict = retryState === undefined ? { retry: false, reason: 'no retry policy' } : wouldRetryFromHeaders(retryState.policy, responseHeaders);
    verdict = admitRetry(env, retryState, cluster, verdict, at, req);
    if (verdict.retry && retryState !== undefined) {
      response.destroy(); // the router resets the upstream stream of the retried attempt
      destroy('retry');
      await backOff(env, retryState, cluster, at);
      continue;
    }
    let final: Buffer | Readable = response;
    if (heldBody !== undefined) final = heldBody.rest === undefined ? heldBody.body : relayAfter(heldBody.body, heldBody.rest, responseHeaders);
    return finalResponse(req, responseHeaders, final, filter, finish);
  }
  finish();
  return fromLocal(localReply(500, 'emulator_attempt_bound_reached'), trace);
}

/**
 * RetryStateImpl::shouldRetry: the policy said yes; check the num_retries budget
 * (upstream_rq_retry_limit_exceeded) and the cluster's max_retries circuit breaker
 * (upstream_rq_retry_overflow). Records the decision on the attempt.
 */
function admitRetry(env: EmulatorEnv, state: RetryState | undefined, cluster: ClusterModel, verdict: RetryVerdict,
  at: AttemptTrace, req: RoutedRequest): RetryVerdict {
  if (!verdict.retry || state === undefined) {
    at.retry = { decision: 'no-retry', reason: verdict.reason };
    return { retry: false, reason: verdict.reason };
  }
  const budget = state.takeRetry();
  if (!budget.retry) {
    env.stats.inc('upstream_rq_retry_limit_exceeded');
    at.retry = { decision: 'no-retry', reason: `${verdict.reason}, but ${budget.reason}` };
    return { retry: false, reason: at.retry.reason };
  }
  const active = env.activeRetries.get(cluster.name) ?? 0;
  if (active >= cluster.maxRetries) {
    env.stats.inc('upstream_rq_retry_overflow');
    at.retry = { decision: 'no-retry', reason: `${verdict.reason}, but upstream_rq_retry_overflow` };
    return { retry: false, reason: at.retry.reason };
  }
  if (req.downstreamGone()) {
    at.retry = { decision: 'no-retry', reason: `${verdict.reason}, but the client went away` };
    return { retry: false, reason: at.retry.reason };
  }
  at.retry = { decision: 'retry', reason: verdict.reason };
  return verdict;
}

/** Wait the jittered backoff; the breaker slot is held while the retry waits (released when it starts). */
async function backOff(env: EmulatorEnv, state: RetryState, cluster: ClusterModel, at: AttemptTrace): Promise<void> {
  const backOffMs = state.nextBackOffMs();
  at.retry.backOffMs = backOffMs;
  env.stats.inc('upstream_rq_retry');
  env.activeRetries.set(cluster.name, (env.activeRetries.get(cluster.name) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, backOffMs));
  env.activeRetries.set(cluster.name, (env.activeRetries.get(cluster.name) ?? 1) - 1);
}

async function finalResponse(req: RoutedRequest, headers: HeaderMap, response: Buffer | Readable,
  filter: UpstreamExtProcFilter | undefined, finish: () => void): Promise<RoutedResponse> {
  let body: Buffer | Readable = response;
  if (Buffer.isBuffer(response)) {
    headers.set('content-length', String(response.length));
  } else if (filter !== undefined && filter.wantsResponseBody()) {
    // STREAMED: the headers went on already; the emulator sends the body as one last chunk.
    const buffered = { data: await readBody(response) };
    const status = await filter.encodeBody(headers, buffered, true, 'streamed');
    if (status.kind === 'local-reply') {
      filter.onDestroy('local reply');
      finish();
      return fromLocal(status.reply, req.trace);
    }
    body = buffered.data;
    headers.set('content-length', String(buffered.data.length));
  }
  // Route::finalizeResponseHeaders runs only for the response that goes downstream.
  for (const name of req.route.responseHeadersToRemove) headers.remove(name);
  if (req.vhost.includeAttemptCountInResponse) headers.set('x-envoy-attempt-count', String(req.trace.attempts.length));
  finish();
  req.trace.final = { status: Number(headers.get(':status')), source: 'upstream', details: 'via_upstream', headers: headers.entries() };
  return { headers, body, local: undefined, done: () => filter?.onDestroy('response complete') };
}
