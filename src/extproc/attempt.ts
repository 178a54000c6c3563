import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { type CompiledConfig, type CompiledPool, poolForCluster } from '../config';
import { classifyBody } from '../core/classify';
import type { Clock } from '../core/clock';
import type { BodyClass } from '../core/policy';
import type { RequestAttempts } from '../core/ports';
import type { Metrics } from '../ops/metrics';
import { type HealthChange, type PoolScheduler, type ResponseDecision, sessionKeyOf } from '../core/scheduler';
import { type AttemptRecord, attemptMetadata, readEnvoyContext } from './envoy-context';
import { noPool } from './errors';
import { overwriteHeader, readHeaders } from './headers';
import type { HeaderMap, HeaderMutation, ProcessingRequest, ProcessingResponse } from './messages';

/** The response header the route's retry policy matches (envoy/envoy.yaml, retriable_headers). */
export const FAILOVER_HEADER = 'x-keyswitch-failover';
export const EXHAUSTED_HEADER = 'x-keyswitch-exhausted';
/**
 * Set by an Envoy rate limiter in front of the provider. The router then returns no-retry
 * before it reads retriable_headers (retry_state_impl.cc, RetryStateImpl::wouldRetryFromHeaders),
 * so keyswitch removes it from a response it marks for retry; envoy/envoy.yaml's mutation_rules
 * allow exactly this x-envoy-* header.
 */
export const ENVOY_RATELIMITED_HEADER = 'x-envoy-ratelimited';

/** One upstream attempt between its request headers and the end of its stream. */
export interface Attempt {
  readonly pool: CompiledPool;
  readonly scheduler: PoolScheduler;
  readonly accountId: string;
  readonly attemptNumber: number;
  /** Accounts of this request whose attempts reached the provider, this one excluded. */
  readonly earlierTried: readonly string[];
  /** Accounts of this request whose attempts never did, this one excluded. */
  readonly earlierUnreached: readonly string[];
  readonly sessionKey: string | undefined;
  readonly requestKey: string | undefined;
  readonly probe: boolean;
  /** Set while the error body of this attempt's response is awaited. */
  awaitingBody?: AwaitedBody;
  /** The response headers came back (the attempt reached the provider). */
  answered: boolean;
  released: boolean;
}

interface AwaitedBody {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly since: number;
  readonly decision: ResponseDecision;
}

/** The config in force and its schedulers; replaced whole on a reload. */
export interface Serving {
  readonly config: CompiledConfig;
  readonly schedulers: ReadonlyMap<string, PoolScheduler>;
}

export interface AttemptDeps {
  readonly requests: RequestAttempts;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Provider-wide faults held off by the mass-fault guard are logged at most this often per pool. */
const HELD_FAULT_LOG_INTERVAL_MS = 60_000;

/**
 * Asks Envoy for the (small) error body before the response headers move on: in BUFFERED_PARTIAL
 * mode Envoy holds the headers until keyswitch answers the body message, and sends what it has
 * once its buffer is full rather than failing the request (ext_proc.cc, processor_state.cc).
 * Every other mode stays as envoy/envoy.yaml sets it.
 */
const READ_ERROR_BODY = {
  request_header_mode: 'SEND',
  response_header_mode: 'SEND',
  request_body_mode: 'NONE',
  response_body_mode: 'BUFFERED_PARTIAL',
  request_trailer_mode: 'SKIP',
  response_trailer_mode: 'SKIP',
} as const;

/**
 * Turns an attempt's Envoy messages into scheduling calls and the decisions back into header
 * mutations. Stateless across attempts: what a request has tried travels in Envoy dynamic
 * metadata, with the bounded request store as the fallback.
 */
export class AttemptProcessor {
  /** Headers removed on every attempt of a pool: client credentials, and other pools' credential headers. */
  private removals = new Map<string, readonly string[]>();
  private serving: Serving;
  private readonly heldFaultLoggedAt = new Map<string, number>();
  private active = 0;

  constructor(
    private readonly deps: AttemptDeps,
    serving: Serving,
  ) {
    this.serving = serving;
    this.use(serving);
  }

  /**
   * Serves a new config from the next attempt on. Attempts already open keep the pool and
   * scheduler they started with, so they finish on the config they began with.
   */
  use(serving: Serving): void {
    const removals = new Map<string, readonly string[]>();
    const credentialHeaders = serving.config.pools.map((pool) => pool.credential.header);
    for (const pool of serving.config.pools) {
      const remove = new Set([...pool.stripHeaders, ...credentialHeaders]);
      remove.delete(pool.credential.header);
      removals.set(pool.policy.name, [...remove]);
    }
    this.removals = removals;
    this.serving = serving;
  }

  begin(request: ProcessingRequest, headerMap: HeaderMap | undefined): { attempt: Attempt; response: ProcessingResponse } {
    const headers = readHeaders(headerMap);
    const context = readEnvoyContext(request, headers);
    const { config, schedulers } = this.serving;
    const pool = poolForCluster(config, context.clusterName);
    if (!pool) throw noPool(`no pool serves cluster "${context.clusterName ?? '(not sent)'}"`);
    const scheduler = schedulers.get(pool.policy.name)!;

    const requestKey = context.requestId === undefined ? undefined : requestKeyOf(context.requestId);
    const known = (id: string): boolean => pool.secrets.has(id);
    const earlierTried = (context.triedFromMetadata ?? this.fallbackTried(context.attemptCount, requestKey)).filter(known);
    if (context.triedFromMetadata === undefined && earlierTried.length > 0) this.deps.metrics.requestMemoryFallback();
    const earlierUnreached = context.unreachedFromMetadata.filter((id) => known(id) && !earlierTried.includes(id));
    const sessionKey = sessionKeyOf(pool.policy.sticky, (name) => headers.get(name), pool.policy.name);
    const pick = scheduler.pick({ tried: new Set(earlierTried), unreached: new Set(earlierUnreached), sessionKey });
    const attemptNumber = context.attemptCount ?? earlierTried.length + earlierUnreached.length + 1;
    const unreached = earlierUnreached.filter((id) => id !== pick.accountId);

    this.active += 1;
    const secret = pool.secrets.get(pick.accountId)!;
    const mutation: HeaderMutation = {
      set_headers: [overwriteHeader(pool.credential.header, pool.credential.prefix + secret.reveal())],
      remove_headers: [...this.removals.get(pool.policy.name)!],
    };
    this.deps.logger.debug(
      {
        pool: pool.policy.name,
        account: pick.accountId,
        attempt: attemptNumber,
        reason: pick.reason,
        requestId: context.requestId?.slice(0, 128),
      },
      'attempt started',
    );
    return {
      attempt: {
        pool,
        scheduler,
        accountId: pick.accountId,
        attemptNumber,
        earlierTried,
        earlierUnreached: unreached,
        sessionKey,
        requestKey,
        probe: pick.reason === 'probe',
        answered: false,
        released: false,
      },
      response: {
        request_headers: { response: { header_mutation: mutation } },
        // Until its response headers come back, this attempt has not reached the provider.
        dynamic_metadata: attemptMetadata(earlierTried, [...unreached, pick.accountId], {
          pool: pool.policy.name,
          account: pick.accountId,
          attempt: attemptNumber,
        }),
      },
    };
  }

  /**
   * The attempt's response headers: classify, cool or disable the account and ask Envoy to retry
   * or not. When the pool reads error bodies and the status may carry one worth reading, Envoy
   * is also asked for the body; the header-only decision stands unless the body changes it.
   */
  respond(attempt: Attempt, headerMap: HeaderMap | undefined): ProcessingResponse {
    const headers = readHeaders(headerMap);
    const status = Number(headers.get(':status'));
    attempt.answered = true;
    const readsBody = attempt.pool.policy.errorBodies?.statuses.has(status) === true;
    const decision = this.decide(attempt, status, headers, undefined, attempt.probe && !readsBody);
    const nowTried = triedWith(attempt);
    if (attempt.requestKey) this.deps.requests.set(attempt.requestKey, nowTried);
    const reply: ProcessingResponse = {
      response_headers: { response: { header_mutation: mutationFor(decision) } },
      dynamic_metadata: attemptMetadata(nowTried, attempt.earlierUnreached, recordOf(attempt, decision)),
    };
    if (readsBody) {
      // Counted once the body has had its say (or never came).
      attempt.awaitingBody = { status, headers, since: performance.now(), decision };
      reply.mode_override = READ_ERROR_BODY;
    } else {
      this.count(attempt, status, decision);
    }
    return reply;
  }

  /**
   * The response body Envoy buffered on keyswitch's request. A body that is late, larger than
   * the pool's limit or cut short by Envoy's buffer is not read: the header-only decision stands.
   */
  respondToBody(attempt: Attempt, body: Buffer, endOfStream: boolean): ProcessingResponse {
    const awaited = attempt.awaitingBody;
    attempt.awaitingBody = undefined;
    const policy = attempt.pool.policy.errorBodies;
    if (awaited === undefined || policy === undefined) return { response_body: { response: {} } };
    const judged = this.judgeBody(attempt, awaited, policy, body, endOfStream);
    // No rule spoke: the probe ends on the header-only class.
    if (judged === undefined) this.settleProbe(attempt, awaited.status);
    this.count(attempt, awaited.status, judged?.decision ?? awaited.decision);
    return judged?.response ?? { response_body: { response: {} } };
  }

  /** The reply and decision when a rule classified the body; undefined when the header-only decision stands. */
  private judgeBody(
    attempt: Attempt,
    awaited: AwaitedBody,
    policy: NonNullable<CompiledPool['policy']['errorBodies']>,
    body: Buffer,
    endOfStream: boolean,
  ): { response: ProcessingResponse; decision: ResponseDecision } | undefined {
    const fields = { pool: attempt.pool.policy.name, account: attempt.accountId, attempt: attempt.attemptNumber, status: awaited.status };
    const waitedMs = performance.now() - awaited.since;
    if (!endOfStream || body.length > policy.maxBytes || waitedMs > policy.waitMs) {
      const why = waitedMs > policy.waitMs ? 'late' : 'too large';
      this.deps.logger.debug({ ...fields, bytes: body.length, waitedMs: Math.round(waitedMs) }, `error body ${why}: header-only decision stands`);
      return undefined;
    }
    const bodyClass = classifyBody(awaited.status, body.toString('utf8'), policy.rules);
    if (bodyClass === undefined) return undefined;
    const decision = this.decide(attempt, awaited.status, awaited.headers, bodyClass, attempt.probe, awaited.decision);
    const response: ProcessingResponse = {
      response_body: { response: { header_mutation: mutationFor(decision) } },
      dynamic_metadata: attemptMetadata(triedWith(attempt), attempt.earlierUnreached, recordOf(attempt, decision)),
    };
    return { response, decision };
  }

  /**
   * What a retry has tried when Envoy forwarded no dynamic metadata: the bounded memory keyed by
   * x-request-id. A first attempt has tried nothing, and clients may reuse an x-request-id
   * across requests, so that memory is consulted only for retries.
   */
  private fallbackTried(attemptCount: number | undefined, requestKey: string | undefined): readonly string[] {
    if (attemptCount === 1 || requestKey === undefined) return [];
    return this.deps.requests.get(requestKey) ?? [];
  }

  /** The attempt's stream is over, however it ended. Safe to call more than once. */
  finish(attempt: Attempt): void {
    if (attempt.released) return;
    attempt.released = true;
    this.active -= 1;
    const pool = attempt.pool.policy.name;
    // Settled before the release, which would otherwise take the probe for abandoned.
    if (attempt.awaitingBody) this.settleProbe(attempt, attempt.awaitingBody.status);
    attempt.scheduler.release(attempt.accountId, attempt.probe);
    if (!attempt.answered) this.deps.metrics.unanswered(pool, attempt.accountId);
    else if (attempt.awaitingBody) this.count(attempt, attempt.awaitingBody.status, attempt.awaitingBody.decision);
  }

  private count(attempt: Attempt, status: number, decision: ResponseDecision): void {
    this.deps.metrics.answered(attempt.pool.policy.name, attempt.accountId, status, decision);
  }

  /** Attempts whose stream is still open: every stream's state must be freed when it ends. */
  activeAttempts(): number {
    return this.active;
  }

  /**
   * Judges the response on the pool's current scheduler (a reload may have replaced the one the
   * attempt started on, which still gets its release). `probe` is false while an error body is
   * still to come: the probe ends on the final class (settleProbe), not on the headers alone.
   */
  private decide(
    attempt: Attempt,
    status: number,
    headers: ReadonlyMap<string, string>,
    bodyClass: BodyClass | undefined,
    probe: boolean,
    /** The header-only decision, when the body is judging the same response again. */
    previous?: ResponseDecision,
  ): ResponseDecision {
    const decision = this.schedulerOf(attempt).onResponse({
      accountId: attempt.accountId,
      attemptNumber: attempt.attemptNumber,
      tried: new Set(triedWith(attempt)),
      status,
      header: (name) => headers.get(name),
      sessionKey: attempt.sessionKey,
      probe,
      ...(bodyClass !== undefined && { bodyClass }),
    });
    this.log(attempt, status, decision, previous);
    // A guard that already held this response off is not counted twice.
    if (previous?.health?.kind !== 'held' || decision.health?.kind !== 'held') this.deps.metrics.judged(attempt.pool.policy.name, decision);
    return decision;
  }

  private schedulerOf(attempt: Attempt): PoolScheduler {
    const current = this.serving.schedulers.get(attempt.pool.policy.name);
    return current !== undefined && current.view(attempt.accountId) !== undefined ? current : attempt.scheduler;
  }

  /** The probe of an attempt whose error body was not read (late, too large, no rule, or never came). */
  private settleProbe(attempt: Attempt, status: number): void {
    if (!attempt.probe) return;
    const health = this.schedulerOf(attempt).settleProbe(attempt.accountId, status);
    const fields = { pool: attempt.pool.policy.name, account: attempt.accountId, attempt: attempt.attemptNumber, status };
    this.logHealth(fields, health);
  }

  /** With `previous` (the body judging the response again), only what changed is logged. */
  private log(attempt: Attempt, status: number, decision: ResponseDecision, previous?: ResponseDecision): void {
    const logger = this.deps.logger;
    const pool = attempt.pool.policy.name;
    const fields = { pool, account: attempt.accountId, attempt: attempt.attemptNumber, status, class: decision.class };
    this.logHealth(fields, decision.health);
    if (decision.cooldown && (previous === undefined || decision.cooldown.started)) {
      const { subject, accounts, until, cause } = decision.cooldown;
      // A member count, not the ids: a 10,000-account quota group must not make each 429 a 100 KB line.
      logger.info({ ...fields, subject, members: accounts.length, cause, until: new Date(until).toISOString() }, 'account cooling down');
    }
    if (decision.kind === 'exhausted' && previous?.kind !== 'exhausted') {
      logger.warn({ ...fields, decision: decision.kind, retryAfterSeconds: decision.retryAfterSeconds }, 'pool exhausted, upstream answer goes to the client');
    } else {
      logger.debug({ ...fields, decision: decision.kind }, 'attempt answered');
    }
  }

  private logHealth(fields: { pool: string; account: string; attempt: number; status: number }, health: HealthChange | undefined): void {
    const logger = this.deps.logger;
    const pool = fields.pool;
    if (health?.kind === 'disabled' && health.accounts.length > 0) {
      logger.warn({ ...fields, cause: health.cause, members: health.accounts.length, probeAt: new Date(health.probeAt).toISOString() }, 'account disabled until its probe');
    } else if (health?.kind === 'probe-failed') {
      logger.warn({ ...fields, cause: health.cause, probeAt: new Date(health.probeAt).toISOString() }, 'probe failed: account stays disabled');
    } else if (health?.kind === 'enabled') {
      logger.info({ ...fields, members: health.accounts.length }, 'probe succeeded: account enabled');
    } else if (health?.kind === 'held') {
      const now = this.deps.clock.now();
      const last = this.heldFaultLoggedAt.get(pool);
      if (last === undefined || now - last >= HELD_FAULT_LOG_INTERVAL_MS) {
        this.heldFaultLoggedAt.set(pool, now);
        logger.warn(fields, 'provider-wide fault: disabling more accounts would exceed health.maxDisabledFraction; none disabled');
      }
    }
  }
}

/** The accounts of the request that reached the provider once this attempt's answer is in. */
function triedWith(attempt: Attempt): string[] {
  return [...attempt.earlierTried, attempt.accountId];
}

function recordOf(attempt: Attempt, decision: ResponseDecision): AttemptRecord {
  const health = decision.health;
  const cause = health?.kind === 'disabled' || health?.kind === 'probe-failed' ? health.cause : decision.cooldown?.cause;
  return {
    pool: attempt.pool.policy.name,
    account: attempt.accountId,
    attempt: attempt.attemptNumber,
    decision: decision.kind,
    class: decision.class,
    ...(cause !== undefined && { cause }),
  };
}

/** The request memory's key: fixed-size, whatever length of x-request-id a client sends. */
function requestKeyOf(requestId: string): string {
  return createHash('sha256').update(requestId).digest('base64url');
}

function mutationFor(decision: ResponseDecision): HeaderMutation {
  switch (decision.kind) {
    case 'pass':
      // A marker the provider sent would make Envoy replay a request that was already answered;
      // an exhausted flag set by a header-only decision that the error body overruled goes too.
      return { remove_headers: [FAILOVER_HEADER, EXHAUSTED_HEADER] };
    case 'retry':
      return { set_headers: [overwriteHeader(FAILOVER_HEADER, 'retry')], remove_headers: [ENVOY_RATELIMITED_HEADER] };
    case 'exhausted':
      // SDKs read retry-after-ms before retry-after: the failed account's value must not win
      // over the pool's. The marker goes too, so no retry can follow whatever the provider sent.
      return {
        set_headers: [overwriteHeader('retry-after', String(decision.retryAfterSeconds)), overwriteHeader(EXHAUSTED_HEADER, 'true')],
        remove_headers: ['retry-after-ms', 'x-ms-retry-after-ms', FAILOVER_HEADER],
      };
  }
}
