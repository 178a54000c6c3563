/**
 * The route RetryPolicy (config/route/v3/route_components.proto) and the router's retry decision,
 * modelled on source/common/router/retry_state_impl.cc:
 *  - parseRetryOn: the comma list in retry_on;
 *  - wouldRetryFromHeaders: checked against the response headers AFTER the upstream filters
 *    (upstream_request.cc UpstreamRequest::decodeHeaders hands the filtered map to
 *    router.cc Filter::onUpstreamHeaders, which calls shouldRetryHeaders);
 *  - wouldRetryFromReset: connect-failure / reset-before-request / reset / 5xx / gateway-error;
 *  - shouldRetry: num_retries bounds the retries (upstream_rq_retry_limit_exceeded);
 *  - backoff: JitteredExponentialBackOffStrategy (random in [0, interval), interval doubles up to
 *    max_interval), base default 25ms, max default 10x base.
 */
import type { HeaderMap } from './header-map';
import { asDurationMs, asList, asNumber, asObj, asString, type Obj } from './yaml-values';

/** One config.route.v3.HeaderMatcher; string_match exact/prefix/suffix/contains, or present_match. */
export interface HeaderMatcher {
  name: string;
  test(value: string | undefined): boolean;
}

export interface RetryPolicy {
  retryOn: Set<string>;
  numRetries: number;
  retriableStatusCodes: number[];
  retriableHeaders: HeaderMatcher[];
  baseIntervalMs: number;
  maxIntervalMs: number;
}

const KNOWN_RETRY_ON = new Set(['5xx', 'gateway-error', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'retriable-headers', 'reset', 'reset-before-request',
  'http3-post-connect-failure', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

function parseHeaderMatcher(raw: unknown, path: string): HeaderMatcher {
  const o = asObj(raw, path);
  const name = (asString(o['name'], `${path}.name`) ?? '').toLowerCase();
  const invert = o['invert_match'] === true;
  let test: (v: string | undefined) => boolean;
  if (o['string_match'] !== undefined) {
    const sm = asObj(o['string_match'], `${path}.string_match`);
    const ignoreCase = sm['ignore_case'] === true;
    const norm = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
    const [kind, expected] = (['exact', 'prefix', 'suffix', 'contains'] as const)
      .map((k) => [k, asString(sm[k], `${path}.string_match.${k}`)] as const)
      .find(([, v]) => v !== undefined) ?? [undefined, undefined];
    if (kind === undefined || expected === undefined) throw new Error(`${path}.string_match: only exact/prefix/suffix/contains are supported`);
    const e = norm(expected);
    test = (v) => v !== undefined && (kind === 'exact' ? norm(v) === e : kind === 'prefix' ? norm(v).startsWith(e)
      : kind === 'suffix' ? norm(v).endsWith(e) : norm(v).includes(e));
  } else if (o['present_match'] !== undefined) {
    const present = o['present_match'] === true;
    test = (v) => (v !== undefined) === present;
  } else if (o['exact_match'] !== undefined) {
    const e = asString(o['exact_match'], `${path}.exact_match`);
    test = (v) => v === e;
  } else {
    // No match specifier: the header only has to be present (HeaderUtility::matchHeaders).
    test = (v) => v !== undefined;
  }
  return { name, test: (v) => test(v) !== invert };
}

/** Parse a RetryPolicy object; undefined input means "no retry policy" (Envoy: no retries). */
export function parseRetryPolicy(raw: unknown, path: string): RetryPolicy | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o: Obj = asObj(raw, path);
  const retryOn = new Set((asString(o['retry_on'], `${path}.retry_on`) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  for (const item of retryOn) if (!KNOWN_RETRY_ON.has(item)) throw new Error(`${path}.retry_on: unknown policy ${item}`);
  const backOff = asObj(o['retry_back_off'], `${path}.retry_back_off`);
  const baseIntervalMs = asDurationMs(backOff['base_interval'], `${path}.retry_back_off.base_interval`, 25);
  return {
    retryOn,
    // route_components.proto: num_retries defaults to 1.
    numRetries: asNumber(o['num_retries'], `${path}.num_retries`, 1),
    retriableStatusCodes: asList(o['retriable_status_codes'], `${path}.retriable_status_codes`)
      .map((c, i) => asNumber(c, `${path}.retriable_status_codes[${i}]`, 0)),
    retriableHeaders: asList(o['retriable_headers'], `${path}.retriable_headers`)
      .map((m, i) => parseHeaderMatcher(m, `${path}.retriable_headers[${i}]`)),
    baseIntervalMs,
    maxIntervalMs: asDurationMs(backOff['max_interval'], `${path}.retry_back_off.max_interval`, baseIntervalMs * 10),
  };
}

/** Why the router would (not) retry, in Envoy's stat vocabulary where one exists. */
export interface RetryVerdict {
  retry: boolean;
  reason: string;
}

/**
 * retry_state_impl.cc RetryStateImpl::wouldRetryFromHeaders, on the post-filter response headers,
 * checks in Envoy's order; the first that says retry wins:
 *  1. x-envoy-ratelimited present → retry iff retry_on has envoy-ratelimited, and NOTHING below is
 *     consulted (so a marker in retriable_headers cannot retry such a response);
 *  2. 5xx; 3. gateway-error (502/503/504); 4. retriable-4xx (409);
 *  5. retriable-status-codes (425 Too Early only for requests not received as early data);
 *  6. retriable-headers: any retriable_headers matcher matching (HeaderData::matchesHeaders);
 *  7. gRPC status policies (not modelled: keyswitch's upstreams are plain HTTP).
 */
export function wouldRetryFromHeaders(policy: RetryPolicy, headers: HeaderMap): RetryVerdict {
  const status = Number(headers.get(':status') ?? '0');
  if (headers.has('x-envoy-ratelimited')) {
    return policy.retryOn.has('envoy-ratelimited') ? { retry: true, reason: 'envoy-ratelimited' } : { retry: false, reason: 'x-envoy-ratelimited without envoy-ratelimited' };
  }
  if (policy.retryOn.has('5xx') && status >= 500 && status < 600) return { retry: true, reason: '5xx' };
  if (policy.retryOn.has('gateway-error') && [502, 503, 504].includes(status)) return { retry: true, reason: 'gateway-error' };
  if (policy.retryOn.has('retriable-4xx') && status === 409) return { retry: true, reason: 'retriable-4xx' };
  if (policy.retryOn.has('retriable-status-codes') && policy.retriableStatusCodes.includes(status)) {
    return { retry: true, reason: 'retriable-status-codes' };
  }
  if (policy.retryOn.has('retriable-headers')) {
    // HeaderUtility::matchHeaders: repeated values are matched joined with ",".
    const matched = policy.retriableHeaders.find((m) => {
      const values = headers.getAll(m.name);
      return values.length === 0 ? m.test(undefined) : m.test(values.join(','));
    });
    if (matched !== undefined) return { retry: true, reason: `retriable-headers (${matched.name})` };
  }
  return { retry: false, reason: 'no retry policy matched' };
}

/** connect-failure: the pool never got a connection; reset: the connection broke after it was made. */
export type ResetReason = 'connect-failure' | 'reset';

/**
 * retry_state_impl.cc RetryStateImpl::wouldRetryFromReset in Envoy's order (overflow and HTTP/3
 * cases left out): a connection failure under connect-failure; reset-before-request when nothing
 * was sent (router.cc maybeRetryReset: first_upstream_tx_byte_sent_ unset, true only for connect
 * failures here); reset; 5xx or gateway-error (a reset counts as a 5xx).
 */
export function wouldRetryFromReset(policy: RetryPolicy, reason: ResetReason): RetryVerdict {
  if (reason === 'connect-failure' && policy.retryOn.has('connect-failure')) return { retry: true, reason: 'connect-failure' };
  if (reason === 'connect-failure' && policy.retryOn.has('reset-before-request')) return { retry: true, reason: 'reset-before-request' };
  for (const item of ['reset', '5xx', 'gateway-error']) if (policy.retryOn.has(item)) return { retry: true, reason: item };
  return { retry: false, reason: `no retry policy matched reset (${reason})` };
}

/** Per downstream request: retries left and the jittered exponential backoff. */
export class RetryState {
  private retriesRemaining: number;
  private nextIntervalMs: number;

  constructor(readonly policy: RetryPolicy, private readonly random: () => number = Math.random) {
    this.retriesRemaining = policy.numRetries;
    this.nextIntervalMs = policy.baseIntervalMs;
  }

  /** RetryStateImpl::shouldRetry's budget check; consumes one retry when it says yes. */
  takeRetry(): RetryVerdict {
    if (this.retriesRemaining <= 0) return { retry: false, reason: 'upstream_rq_retry_limit_exceeded' };
    this.retriesRemaining--;
    return { retry: true, reason: 'retry budget left' };
  }

  /** JitteredExponentialBackOffStrategy::nextBackOffMs. */
  nextBackOffMs(): number {
    const interval = Math.max(1, this.nextIntervalMs);
    this.nextIntervalMs = interval < this.policy.maxIntervalMs / 2 ? interval * 2 : this.policy.maxIntervalMs;
    return Math.min(Math.floor(this.random() * interval), this.policy.maxIntervalMs);
  }
}
