/**
 * What GET /v1/pools shows and what the account actions do, from the compiled config, the
 * schedulers, the session store and the metrics' tallies. Never a secret: each key appears as
 * its fingerprint, the first 8 hex digits of HMAC-SHA256 keyed "keyswitch", which an operator can
 * compute for a key they hold: `printf %s "$KEY" | openssl dgst -sha256 -hmac keyswitch -r | cut -c1-8`.
 */
import { createHmac } from 'node:crypto';
import type { CompiledConfig, Secret } from '../config';
import type { SessionBindings } from '../core/ports';
import type { AccountView, PoolScheduler } from '../core/scheduler';
import type { AccountAction } from './admin';
import type { Metrics } from './metrics';

const fingerprints = new WeakMap<Secret, string>();

export function fingerprintOf(secret: Secret): string {
  let print = fingerprints.get(secret);
  if (print === undefined) {
    print = createHmac('sha256', 'keyswitch').update(secret.reveal()).digest('hex').slice(0, 8);
    fingerprints.set(secret, print);
  }
  return print;
}

export function poolsView(
  config: CompiledConfig,
  schedulers: ReadonlyMap<string, PoolScheduler>,
  sessions: SessionBindings,
  metrics: Metrics,
  now: number,
): unknown {
  return {
    now: new Date(now).toISOString(),
    pools: config.pools.map((pool) => {
      const name = pool.policy.name;
      const scheduler = schedulers.get(name)!;
      const bound = sessions.countByAccount(name);
      return {
        name,
        clusters: [...pool.clusters],
        ...metrics.tally(name),
        accounts: pool.policy.accounts.map((account) =>
          accountJson(scheduler.view(account.id)!, pool.secrets.get(account.id)!, bound.get(account.id) ?? 0, metrics.lastFailover(name, account.id)),
        ),
      };
    }),
  };
}

export function runAction(
  config: CompiledConfig,
  schedulers: ReadonlyMap<string, PoolScheduler>,
  sessions: SessionBindings,
  metrics: Metrics,
  poolName: string,
  accountId: string,
  action: AccountAction,
): unknown {
  const pool = config.pools.find((candidate) => candidate.policy.name === poolName);
  const scheduler = schedulers.get(poolName);
  if (pool === undefined || scheduler === undefined) return 'no-pool';
  const secret = pool.secrets.get(accountId);
  if (secret === undefined) return 'no-account';
  if (action === 'drain') scheduler.drain(accountId);
  else if (action === 'enable') scheduler.enable(accountId);
  else scheduler.clearCooldown(accountId);
  return accountJson(scheduler.view(accountId)!, secret, sessions.countByAccount(poolName).get(accountId) ?? 0, metrics.lastFailover(poolName, accountId));
}

function accountJson(view: AccountView, secret: Secret, stickySessions: number, lastFailover: { cause: string; at: number } | undefined) {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    id: view.id,
    state: view.state,
    coolingUntil: iso(view.coolingUntil),
    cooldownCause: view.cooldownCause,
    escalation: view.escalation,
    disabledCause: view.disabledCause,
    probeAt: iso(view.probeAt),
    drained: view.drained,
    inFlight: view.inFlight,
    stickySessions,
    fingerprint: fingerprintOf(secret),
    lastFailover: lastFailover && { cause: lastFailover.cause, at: iso(lastFailover.at) },
  };
}
