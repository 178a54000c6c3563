import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CompiledConfig, CompiledPool } from '../config/types';
import { poolForCluster } from '../config/pools';
import type { RequestAttempts } from '../core/ports';
import { type PoolScheduler, type ResponseDecision, sessionKeyOf } from '../core/scheduler';
import { readEnvoyContext, triedMetadata } from './envoy-context';
import { noPool } from './errors';
import { overwriteHeader, readHeaders } from './headers';
import type { HeaderMap, HeaderMutation, ProcessingRequest, ProcessingResponse } from './messages';

/** The response header the route's retry policy matches (envoy/envoy.yaml, retriable_headers). */
export const FAILOVER_HEADER = 'x-keyswitch-failover';
export const EXHAUSTED_HEADER = 'x-keyswitch-exhausted';

/** One upstream attempt between its request headers and the end of its stream. */
export interface Attempt {
  readonly pool: CompiledPool;
  readonly scheduler: PoolScheduler;
  readonly accountId: string;
  readonly attemptNumber: number;
  readonly tried: ReadonlySet<string>;
  readonly sessionKey: string | undefined;
  released: boolean;
}

export interface AttemptDeps {
  readonly config: CompiledConfig;
  readonly schedulers: ReadonlyMap<string, PoolScheduler>;
  readonly requests: RequestAttempts;
  readonly logger: Logger;
}

/**
 * Turns an attempt's Envoy messages into scheduling calls and the decisions back into header
 * mutations. Stateless across attempts: what a request has tried travels in Envoy dynamic
 * metadata, with the bounded request store as the fallback.
 */
export class AttemptProcessor {
  /** Headers removed on every attempt of a pool: client credentials, and other pools' credential headers. */
  private readonly removals = new Map<string, readonly string[]>();
  private active = 0;

  constructor(private readonly deps: AttemptDeps) {
    const credentialHeaders = deps.config.pools.map((pool) => pool.credential.header);
    for (const pool of deps.config.pools) {
      const remove = new Set([...pool.stripHeaders, ...credentialHeaders]);
      remove.delete(pool.credential.header);
      this.removals.set(pool.policy.name, [...remove]);
    }
  }

  begin(request: ProcessingRequest, headerMap: HeaderMap | undefined): { attempt: Attempt; response: ProcessingResponse } {
    const headers = readHeaders(headerMap);
    const context = readEnvoyContext(request, headers);
    const pool = poolForCluster(this.deps.config, context.clusterName);
    if (!pool) throw noPool(`no pool serves cluster "${context.clusterName ?? '(not sent)'}"`);
    const scheduler = this.deps.schedulers.get(pool.policy.name)!;

    const requestKey = context.requestId === undefined ? undefined : requestKeyOf(context.requestId);
    const earlier = context.triedFromMetadata ?? this.fallbackTried(context.attemptCount, requestKey);
    const tried = new Set(earlier.filter((id) => pool.secrets.has(id)));
    const sessionKey = sessionKeyOf(pool.policy.sticky, (name) => headers.get(name), pool.policy.name);
    const pick = scheduler.pick({ tried, sessionKey });
    const attemptNumber = context.attemptCount ?? tried.size + 1;
    const nowTried = [...tried, pick.accountId];
    if (requestKey) this.deps.requests.set(requestKey, nowTried);

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
        tried: new Set(nowTried),
        sessionKey,
        released: false,
      },
      response: {
        request_headers: { response: { header_mutation: mutation } },
        dynamic_metadata: triedMetadata(nowTried),
      },
    };
  }

  /** The attempt's response headers: cool the account if needed and ask Envoy to retry or not. */
  respond(attempt: Attempt, headerMap: HeaderMap | undefined): ProcessingResponse {
    const headers = readHeaders(headerMap);
    const status = Number(headers.get(':status'));
    const decision = attempt.scheduler.onResponse({
      accountId: attempt.accountId,
      attemptNumber: attempt.attemptNumber,
      tried: attempt.tried,
      status,
      header: (name) => headers.get(name),
      sessionKey: attempt.sessionKey,
    });
    this.log(attempt, status, decision);
    return { response_headers: { response: mutationFor(decision) } };
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
    attempt.scheduler.release(attempt.accountId);
  }

  /** Attempts whose stream is still open: every stream's state must be freed when it ends. */
  activeAttempts(): number {
    return this.active;
  }

  private log(attempt: Attempt, status: number, decision: ResponseDecision): void {
    const fields = { pool: attempt.pool.policy.name, account: attempt.accountId, attempt: attempt.attemptNumber, status };
    if (decision.cooldown) {
      const { subject, accounts, until, cause } = decision.cooldown;
      // A member count, not the ids: a 10,000-account quota group must not make each 429 a 100 KB line.
      this.deps.logger.info({ ...fields, subject, members: accounts.length, cause, until: new Date(until).toISOString() }, 'account cooling down');
    }
    if (decision.kind === 'exhausted') {
      this.deps.logger.warn({ ...fields, retryAfterSeconds: decision.retryAfterSeconds }, 'pool exhausted, upstream answer goes to the client');
    } else {
      this.deps.logger.debug({ ...fields, decision: decision.kind }, 'attempt answered');
    }
  }
}

/** The request memory's key: fixed-size, whatever length of x-request-id a client sends. */
function requestKeyOf(requestId: string): string {
  return createHash('sha256').update(requestId).digest('base64url');
}

function mutationFor(decision: ResponseDecision): { header_mutation?: HeaderMutation } {
  switch (decision.kind) {
    case 'pass':
      return {};
    case 'retry':
      return { header_mutation: { set_headers: [overwriteHeader(FAILOVER_HEADER, 'retry')] } };
    case 'exhausted':
      // SDKs read retry-after-ms before retry-after: the failed account's value must not win
      // over the pool's. The marker goes too, so no retry can follow whatever the provider sent.
      return {
        header_mutation: {
          set_headers: [overwriteHeader('retry-after', String(decision.retryAfterSeconds)), overwriteHeader(EXHAUSTED_HEADER, 'true')],
          remove_headers: ['retry-after-ms', 'x-ms-retry-after-ms', FAILOVER_HEADER],
        },
      };
  }
}
