/**
 * The router filter's attempt loop for one downstream request (source/common/router/router.cc):
 * Filter::decodeHeaders starts attempt 1, Filter::doRetry starts the next ones. What it keeps
 * across attempts is exactly what Envoy keeps: the ONE request-header map (attempt N starts with
 * attempt N-1's mutations), the request's dynamic metadata, the buffered request body (each
 * attempt gets a copy), and the retry state. What it renews per attempt is the upstream filter
 * chain: a new ext_proc filter and Process stream (upstream_request.cc).
 */
import type * as http from 'node:http';
import type { ClusterModel, RouteModel, VirtualHostModel } from './bootstrap';
import { type FilterStatus, type LocalReply, localReply, UpstreamExtProcFilter } from './ext-proc-filter';
import { ExtProcStream } from './ext-proc-stream';
import type { EmulatorEnv } from './env';
import { HeaderMap } from './header-map';
import { RetryState, type RetryVerdict, wouldRetryFromHeaders, wouldRetryFromReset } from './retry-policy';
import { type AttemptTrace, newExtProcTrace, type RequestTrace } from './trace';
import { readBody, sendUpstream } from './upstream';
import { fromPbStruct, type PbStruct, type PbValue } from './wire';

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
  trace: RequestTrace;
  downstreamGone(): boolean;
}

/** What goes back to the client. `done` runs after the body has been relayed. */
export interface RoutedResponse {
  headers: HeaderMap; // includes :status
  body: Buffer | http.IncomingMessage;
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
    // The router replays a COPY of the buffered body to each attempt (router.cc doRetry).
    const body = { data: Buffer.from(req.body) };
    let status: FilterStatus = filter === undefined ? { kind: 'continue' } : await filter.decodeHeaders(headers, body.data.length === 0, body);
    if (status.kind === 'continue' && filter !== undefined) status = await filter.decodeBody(headers, body);
    if (status.kind === 'local-reply') {
      // Upstream-filter local replies go through the downstream filter manager: final, never retried.
      destroy('local reply');
      finish();
      return fromLocal(status.reply, trace);
    }
    // auto_host_rewrite happens when the connection pool is ready, i.e. after the upstream filters
    // ran for this attempt, on the shared map (so the next attempt's filters see the new host).
    if (route.autoHostRewrite && cluster.endpointHost !== undefined) headers.set(':authority', cluster.endpointHost);
    at.upstreamRequestHeaders = headers.entries();
    at.upstreamRequestBody = body.data;
    const call = sendUpstream(req.upstreamUrl, env.agent, headers, body.data);
    const raced = await Promise.race([call.result, filter?.asyncFailure ?? new Promise<never>(() => {})]);
    if ('reply' in raced || raced.kind === 'continue') {
      call.abort();
      destroy('ext_proc failed while waiting for upstream');
      finish();
      return fromLocal(raced.kind === 'local-reply' ? raced.reply : localReply(500, 'emulator_bug'), trace);
    }
    let verdict: RetryVerdict;
    if (raced.kind === 'reset') {
      at.reset = `${raced.reason}: ${raced.message}`;
      destroy('upstream reset');
      verdict = retryState === undefined ? { retry: false, reason: 'no retry policy' } : wouldRetryFromReset(retryState.policy, raced.reason);
      verdict = admitRetry(env, retryState, cluster, verdict, at, req);
      if (verdict.retry && retryState !== undefined) {
        await backOff(env, retryState, cluster, at);
        continue;
      }
      finish();
      const detail = raced.reason === 'connect-failure' ? 'connection failure' : 'remote reset';
      return fromLocal(localReply(503, `upstream_reset_before_response_started{${detail}}`,
        `upstream connect error or disconnect/reset before headers. reset reason: ${detail}`), trace);
    }
    const response = raced.response;
    const responseHeaders = responseHeaderMap(response);
    at.upstreamStatus = response.statusCode;
    responseStatus = response.statusCode ?? 0;
    const endOfStream = response.headers['content-length'] === '0' || responseStatus === 204 || responseStatus === 304
      || headers.get(':method') === 'HEAD';
    status = filter === undefined ? { kind: 'continue' } : await filter.encodeHeaders(responseHeaders, endOfStream);
    if (status.kind === 'local-reply') {
      response.destroy();
      destroy('local reply');
      finish();
      return fromLocal(status.reply, trace);
    }
    at.filteredResponseHeaders = responseHeaders.entries();
    // The retry decision reads the FILTERED headers (upstream_request.cc decodeHeaders →
    // router.cc onUpstreamHeaders → retry_state_impl.cc shouldRetryHeaders).
    verdict = retryState === undefined ? { retry: false, reason: 'no retry policy' } : wouldRetryFromHeaders(retryState.policy, responseHeaders);
    verdict = admitRetry(env, retryState, cluster, verdict, at, req);
    if (verdict.retry && retryState !== undefined) {
      response.destroy(); // the router resets the upstream stream of the retried attempt
      destroy('retry');
      await backOff(env, retryState, cluster, at);
      continue;
    }
    return finalResponse(req, responseHeaders, response, filter, finish);
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

async function finalResponse(req: RoutedRequest, headers: HeaderMap, response: http.IncomingMessage,
  filter: UpstreamExtProcFilter | undefined, finish: () => void): Promise<RoutedResponse> {
  let body: Buffer | http.IncomingMessage = response;
  if (filter !== undefined && filter.wantsResponseBody()) {
    const buffered = { data: await readBody(response) };
    const status = await filter.encodeBody(headers, buffered);
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

interface AttributeContext {
  headers: HeaderMap;
  attempt: number;
  route: RouteModel;
  cluster: ClusterModel;
  responseStatus: number;
}

/** The Envoy attributes the emulator can evaluate (attributes.rst); others are left out. */
function attributes(names: string[], ctx: AttributeContext): Record<string, PbValue> {
  const out: Record<string, PbValue> = {};
  const path = ctx.headers.get(':path') ?? '';
  const known: Record<string, () => PbValue> = {
    'request.id': () => ({ stringValue: ctx.headers.get('x-request-id') ?? '' }),
    'request.path': () => ({ stringValue: path }),
    'request.url_path': () => ({ stringValue: path.split('?')[0] ?? '' }),
    'request.method': () => ({ stringValue: ctx.headers.get(':method') ?? '' }),
    'request.host': () => ({ stringValue: ctx.headers.get(':authority') ?? '' }),
    'request.scheme': () => ({ stringValue: ctx.headers.get(':scheme') ?? '' }),
    // An integer attribute; the Struct carries it as a number.
    'upstream.request_attempt_count': () => ({ numberValue: ctx.attempt }),
    'xds.route_name': () => ({ stringValue: ctx.route.name }),
    'xds.cluster_name': () => ({ stringValue: ctx.cluster.name }),
    'response.code': () => ({ numberValue: ctx.responseStatus }),
  };
  for (const name of names) {
    const evaluate = known[name];
    if (evaluate !== undefined) out[name] = evaluate();
  }
  return out;
}
