/**
 * parse → validate → compile: the one path every config (file or embedded) goes through.
 * The result is frozen all the way down so it can be swapped in with one assignment.
 */
import { readFileSync } from 'node:fs';
import type { AccountSpec, PoolPolicy } from '../core/policy';
import { Problems } from './errors';
import type { PoolDraft } from './pool';
import type { Secret } from './secret';
import type { Env, ReadSecretFile } from './secrets';
import type { CompiledConfig, CompiledPool } from './types';
import { validate } from './validate';

const readUtf8: ReadSecretFile = (path) => readFileSync(path, 'utf8');

/**
 * Compiles config text. `source` names the text in every error (usually the file path).
 * Secrets come from `env` and `readSecretFile` (default: read the file as UTF-8).
 * Throws one ConfigError listing every problem found.
 */
export function parseConfig(text: string, source: string, env: Env, readSecretFile: ReadSecretFile = readUtf8): CompiledConfig {
  const problems = new Problems(source);
  const drafts = validate(text, problems, { env, readFile: readSecretFile });
  problems.throwIfAny();
  const pools = drafts.map(compilePool);
  return Object.freeze({
    source,
    pools: Object.freeze(pools),
    accountCount: pools.reduce((sum, pool) => sum + pool.policy.accounts.length, 0),
  });
}

// Called only when validation found no problem, so every draft field is valid.
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
