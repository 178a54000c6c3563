/**
 * Checked drafts → the runtime config the rest of keyswitch holds, and that config's types. The
 * result is frozen all the way down so it can be swapped in with one assignment.
 */
import type { AccountSpec, PoolPolicy } from '../core/policy';
import type { PoolDraft } from './pool-walk';
import type { Secret } from './secrets';

/** How an account's key is written into each upstream attempt. */
export interface CredentialSpec {
  /** Lower-case header name, e.g. `authorization` or `x-api-key`. */
  readonly header: string;
  /** Written before the key, e.g. `Bearer `; may be empty. */
  readonly prefix: string;
}

export interface CompiledPool {
  /** What the scheduling core sees: no secrets, durations in milliseconds, lower-case headers. */
  readonly policy: PoolPolicy;
  /** Envoy cluster names (attribute xds.cluster_name); empty = serves every cluster (single pool only). */
  readonly clusters: ReadonlySet<string>;
  readonly credential: CredentialSpec;
  /** Client credential headers removed on every attempt; lower-case. */
  readonly stripHeaders: readonly string[];
  /** Account id → its key. */
  readonly secrets: ReadonlyMap<string, Secret>;
}

export interface CompiledConfig {
  /** Where the config came from: a file path or `<embedded demo config>`. */
  readonly source: string;
  readonly pools: readonly CompiledPool[];
  /** Every listed cluster → the one pool that lists it (validation keeps clusters unique). */
  readonly poolByCluster: ReadonlyMap<string, CompiledPool>;
  /**
   * The pool serving every cluster, listed or not, and an attempt whose cluster is unknown: set
   * only when the config is a single pool without `match` (poolByCluster is then empty).
   */
  readonly everyClusterPool: CompiledPool | undefined;
  readonly accountCount: number;
  /** Every secret file the config read, for the reload watcher. */
  readonly secretFiles: readonly string[];
}

/** `drafts` must come from a walk that recorded no problem: then every draft field is valid. */
export function compileConfig(source: string, drafts: readonly PoolDraft[]): CompiledConfig {
  const pools = drafts.map(compilePool);
  const poolByCluster = new Map<string, CompiledPool>();
  for (const pool of pools) for (const cluster of pool.clusters) poolByCluster.set(cluster, pool);
  const only = pools.length === 1 ? pools[0] : undefined;
  return Object.freeze({
    source,
    pools: Object.freeze(pools),
    poolByCluster: frozenMap(poolByCluster),
    everyClusterPool: only !== undefined && only.clusters.size === 0 ? only : undefined,
    accountCount: pools.reduce((sum, pool) => sum + pool.policy.accounts.length, 0),
    secretFiles: Object.freeze(drafts.flatMap((pool) => pool.accounts.flatMap((account) => account.secretFile ?? []))),
  });
}

/**
 * The pool serving an Envoy cluster (attribute xds.cluster_name): a single pool without `match`
 * serves every cluster, including an unknown one; otherwise the cluster must be listed exactly.
 */
export function poolForCluster(config: CompiledConfig, cluster: string | undefined): CompiledPool | undefined {
  if (config.everyClusterPool !== undefined) return config.everyClusterPool;
  return cluster === undefined ? undefined : config.poolByCluster.get(cluster);
}

function compilePool(draft: PoolDraft): CompiledPool {
  const accounts: AccountSpec[] = draft.accounts.map((account) => Object.freeze({ ...account.spec }));
  const secrets = new Map<string, Secret>();
  for (const account of draft.accounts) {
    if (account.id !== undefined && account.secret !== undefined) secrets.set(account.id, account.secret);
  }
  const policy: PoolPolicy = Object.freeze({
    name: draft.name ?? '',
    failoverStatuses: frozenSet(draft.failoverStatuses),
    maxAttempts: draft.maxAttempts,
    cooldown: Object.freeze({ ...draft.cooldown }),
    health: Object.freeze({ ...draft.health, disableOn: frozenSet(draft.health.disableOn) }),
    ...(draft.errorBodies === undefined
      ? {}
      : {
          errorBodies: Object.freeze({
            ...draft.errorBodies,
            statuses: frozenSet(draft.errorBodies.statuses),
            rules: Object.freeze(draft.errorBodies.rules.map((rule) => Object.freeze({ ...rule, statuses: frozenSet(rule.statuses) }))),
          }),
        }),
    ...(draft.sticky === undefined
      ? {}
      : { sticky: Object.freeze({ ...draft.sticky, headers: Object.freeze([...draft.sticky.headers]) }) }),
    accounts: Object.freeze(accounts),
  });
  return Object.freeze({
    policy,
    clusters: frozenSet(draft.clusters ?? []),
    credential: Object.freeze({ ...draft.credential }),
    stripHeaders: Object.freeze([...draft.stripHeaders]),
    secrets: frozenMap(secrets),
  });
}

/** Object.freeze does not stop Set#add, so the mutators are replaced on the instance. */
function frozenSet<T>(values: Iterable<T>): ReadonlySet<T> {
  const set = new Set(values);
  for (const name of ['add', 'delete', 'clear']) Object.defineProperty(set, name, { value: refuseMutation });
  return Object.freeze(set);
}

function frozenMap<K, V>(map: Map<K, V>): ReadonlyMap<K, V> {
  for (const name of ['set', 'delete', 'clear']) Object.defineProperty(map, name, { value: refuseMutation });
  return Object.freeze(map);
}

function refuseMutation(): never {
  throw new TypeError('compiled config is immutable');
}
