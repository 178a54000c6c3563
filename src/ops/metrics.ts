/**
 * keyswitch's Prometheus metrics (prom-client), on the admin listener's /metrics. Labels come only
 * from config (pool, account, cause, status, state), never from request data. Per account there
 * are at most six attempt series (one per outcome seen) and one cooldown series while it cools.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccountState, PoolScheduler, ResponseClass, ResponseDecision } from '../core/scheduler';

export type MessageKind = 'request_headers' | 'response_headers' | 'response_body';

const OUTCOME: Record<ResponseClass, string> = {
  success: 'success',
  'rate-limit': 'rate_limited',
  overload: 'overloaded',
  'account-fault': 'refused',
  billing: 'refused',
  request: 'other',
  other: 'other',
};

const FAILOVER_CAUSE: Partial<Record<ResponseClass, string>> = {
  'rate-limit': 'rate_limit',
  overload: 'overload',
  'account-fault': 'account_fault',
  billing: 'billing',
};

const COOLDOWN_CAUSES = ['rate_limit', 'overload', 'headroom', 'quota_group', 'escalated', 'billing', 'disabled'];

const STATES: readonly AccountState[] = ['available', 'cooling', 'disabled', 'probing', 'drained', 'at-capacity'];

export class Metrics {
  readonly registry = new Registry();
  private readonly attempts: Counter<'pool' | 'account' | 'outcome'>;
  private readonly failovers: Counter<'pool' | 'cause'>;
  private readonly clientErrors: Counter<'pool' | 'status'>;
  private readonly exhausted: Counter<'pool'>;
  private readonly cooldownsStarted: Counter<'pool' | 'cause'>;
  private readonly providerWide: Counter<'pool'>;
  private readonly decisions: Histogram<'message'>;
  private readonly violations: Counter;
  private readonly fallbacks: Counter;
  private readonly reloads: Counter<'result'>;
  /**
   * Labelled children, looked up once: prom-client hashes a label object on every inc() or
   * observe(), which costs more than the rest of a decision's bookkeeping. Bounded by config.
   */
  private readonly attemptChildren = new Map<string, { inc(): void }>();
  private readonly decisionChildren = new Map<MessageKind, { observe(value: number): void }>();
  /** For the status page: per pool, failovers absorbed and failover statuses clients saw. */
  private readonly tallies = new Map<string, { absorbed: number; clientVisible: number }>();
  /** Per pool and account, the last failover's cause and time (epoch ms). */
  private readonly lastFailovers = new Map<string, { cause: string; at: number }>();

  /**
   * `schedulers` is read at each scrape (it changes on reload); `openStreams` too.
   */
  /**
   * Counters of every pool and known label value start at 0, so rate() and increase() see the
   * first event. Per-account attempt series appear with their first attempt.
   */
  constructor(
    schedulers: () => ReadonlyMap<string, PoolScheduler>,
    openStreams: () => number,
    private readonly clock: () => number,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keyswitch_' });
    this.attempts = new Counter({
      name: 'keyswitch_attempts_total',
      help: 'Upstream attempts by pool, account and what the response said of the account (unanswered: no response headers came back).',
      labelNames: ['pool', 'account', 'outcome'],
      registers,
    });
    this.failovers = new Counter({
      name: 'keyswitch_failovers_total',
      help: 'Failovers absorbed: keyswitch marked the response for retry on another account, so the client did not see it.',
      labelNames: ['pool', 'cause'],
      registers,
    });
    this.clientErrors = new Counter({
      name: 'keyswitch_client_errors_total',
      help: 'Responses with a failover or account-fault status that reached the client (no account left to retry on).',
      labelNames: ['pool', 'status'],
      registers,
    });
    this.exhausted = new Counter({
      name: 'keyswitch_pool_exhausted_total',
      help: 'Responses answered as pool-exhausted (x-keyswitch-exhausted: true).',
      labelNames: ['pool'],
      registers,
    });
    this.cooldownsStarted = new Counter({
      name: 'keyswitch_cooldowns_started_total',
      help: 'Cooldowns and disables started, by cause (quota_group: a cooldown that covered a whole quota group).',
      labelNames: ['pool', 'cause'],
      registers,
    });
    this.providerWide = new Counter({
      name: 'keyswitch_provider_wide_faults_total',
      help: 'Account faults held off by the mass-fault guard (health.maxDisabledFraction): nothing was disabled.',
      labelNames: ['pool'],
      registers,
    });
    this.decisions = new Histogram({
      name: 'keyswitch_decision_duration_seconds',
      help: 'Time keyswitch took to answer one ext_proc message, by message type.',
      labelNames: ['message'],
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.2],
      registers,
    });
    this.violations = new Counter({ name: 'keyswitch_protocol_violations_total', help: 'ext_proc streams ended for a protocol violation.', registers });
    this.fallbacks = new Counter({
      name: 'keyswitch_request_memory_fallbacks_total',
      help: 'Retries whose tried accounts came from the x-request-id memory because Envoy forwarded no keyswitch metadata.',
      registers,
    });
    this.reloads = new Counter({ name: 'keyswitch_config_reloads_total', help: 'Config reloads by result.', labelNames: ['result'], registers });
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    this.violations.inc(0);
    this.fallbacks.inc(0);
    for (const scheduler of schedulers().values()) this.startPool(scheduler);
    new Gauge({ name: 'keyswitch_open_streams', help: 'ext_proc streams (attempts) open now.', registers, collect() { this.set(openStreams()); } });
    new Gauge({
      name: 'keyswitch_accounts',
      help: 'Accounts by pool and state.',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [pool, scheduler] of schedulers()) {
          const counts = new Map<AccountState, number>(STATES.map((state) => [state, 0]));
          for (const account of scheduler.policy.accounts) {
            const state = scheduler.view(account.id)!.state;
            counts.set(state, counts.get(state)! + 1);
          }
          for (const [state, count] of counts) this.set({ pool, state: state.replace('-', '_') }, count);
        }
      },
    });
    new Gauge({
      name: 'keyswitch_account_cooldown_remaining_seconds',
      help: 'Seconds until a cooling account is usable again; only cooling accounts have a series.',
      labelNames: ['pool', 'account'],
      registers,
      collect() {
        this.reset();
        const now = clock();
        for (const [pool, scheduler] of schedulers()) {
          for (const account of scheduler.policy.accounts) {
            const until = scheduler.view(account.id)!.coolingUntil;
            if (until !== undefined) this.set({ pool, account: account.id }, Math.max(0, (until - now) / 1000));
          }
        }
      },
    });
  }

  /** Puts a pool's counters at 0 (at start, and for a pool a reload adds). */
  startPool(scheduler: PoolScheduler): void {
    const pool = scheduler.policy.name;
    for (const cause of Object.values(FAILOVER_CAUSE)) this.failovers.inc({ pool, cause }, 0);
    for (const cause of COOLDOWN_CAUSES) this.cooldownsStarted.inc({ pool, cause }, 0);
    for (const status of [...scheduler.policy.failoverStatuses, ...scheduler.policy.health.disableOn]) {
      this.clientErrors.inc({ pool, status: String(status) }, 0);
    }
    this.exhausted.inc({ pool }, 0);
    this.providerWide.inc({ pool }, 0);
  }

  /** An attempt's final decision, once per attempt (after its error body, when one was read). */
  answered(pool: string, account: string, status: number, decision: ResponseDecision): void {
    this.attempt(pool, account, OUTCOME[decision.class]).inc();
    const cause = FAILOVER_CAUSE[decision.class];
    if (decision.kind === 'exhausted') this.exhausted.inc({ pool });
    if (cause === undefined) return;
    const tally = this.tally(pool);
    if (decision.kind === 'retry') {
      this.failovers.inc({ pool, cause });
      tally.absorbed += 1;
      this.lastFailovers.set(`${pool}\u0000${account}`, { cause: decision.class, at: this.clock() });
    } else {
      this.clientErrors.inc({ pool, status: String(status) });
      tally.clientVisible += 1;
    }
  }

  tally(pool: string): { absorbed: number; clientVisible: number } {
    let tally = this.tallies.get(pool);
    if (tally === undefined) this.tallies.set(pool, (tally = { absorbed: 0, clientVisible: 0 }));
    return tally;
  }

  lastFailover(pool: string, account: string): { cause: string; at: number } | undefined {
    return this.lastFailovers.get(`${pool}\u0000${account}`);
  }

  /** What judging a response changed: cooldowns and disables started, faults held off. */
  judged(pool: string, decision: ResponseDecision): void {
    const cooldown = decision.cooldown;
    if (cooldown?.started) {
      this.cooldownsStarted.inc({ pool, cause: cooldown.accounts.length > 1 ? 'quota_group' : cooldown.cause.replace('-', '_') });
    }
    const health = decision.health;
    if (health?.kind === 'disabled' && health.accounts.length > 0) this.cooldownsStarted.inc({ pool, cause: health.cause });
    if (health?.kind === 'held') this.providerWide.inc({ pool });
  }

  private attempt(pool: string, account: string, outcome: string): { inc(): void } {
    const key = `${pool}\u0000${account}\u0000${outcome}`;
    let child = this.attemptChildren.get(key);
    if (child === undefined) this.attemptChildren.set(key, (child = this.attempts.labels({ pool, account, outcome })));
    return child;
  }

  /** The attempt's stream ended without response headers. */
  unanswered(pool: string, account: string): void {
    this.attempt(pool, account, 'unanswered').inc();
  }

  decided(message: MessageKind, seconds: number): void {
    let child = this.decisionChildren.get(message);
    if (child === undefined) this.decisionChildren.set(message, (child = this.decisions.labels({ message })));
    child.observe(seconds);
  }

  protocolViolation(): void {
    this.violations.inc();
  }

  requestMemoryFallback(): void {
    this.fallbacks.inc();
  }

  reloaded(result: 'success' | 'failure'): void {
    this.reloads.inc({ result });
  }
}
