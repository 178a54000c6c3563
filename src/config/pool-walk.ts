/**
 * Plain data → checked drafts: the top level, each entry of `pools` with its sections and its
 * accounts, then the rules that span pools. Every problem is recorded with its field path; the
 * caller throws once.
 */
import type { AccountSpec, CooldownPolicy, ErrorBodyPolicy, HealthPolicy, StickyPolicy } from '../core/policy';
import type { CredentialSpec } from './compile';
import { DEFAULTS } from './defaults';
import { at, describe, Fields, item, type Mapping, type Problems } from './fields';
import { walkErrorBodies, walkHealth } from './health-walk';
import { resolveSecret, type Secret, type SecretSources } from './secrets';

const POOL_KEYS = [
  'name', 'match', 'credential', 'stripHeaders', 'failover', 'health', 'errorBodies', 'cooldown', 'sticky', 'accounts',
] as const;
const ACCOUNT_KEYS = ['id', 'secret', 'priority', 'weight', 'quotaGroup', 'maxConcurrency'] as const;

export interface PoolDraft {
  /** undefined when missing or invalid (already reported). */
  readonly name: string | undefined;
  /** undefined when `match` is absent: allowed for a single pool only (checked across pools). */
  readonly clusters: readonly string[] | undefined;
  readonly credential: CredentialSpec;
  readonly stripHeaders: readonly string[];
  readonly failoverStatuses: readonly number[];
  readonly maxAttempts: number;
  readonly health: HealthPolicy;
  readonly errorBodies: ErrorBodyPolicy | undefined;
  readonly cooldown: CooldownPolicy;
  readonly sticky: StickyPolicy | undefined;
  readonly accounts: readonly AccountDraft[];
}

export interface AccountDraft {
  /** Field path of this account, e.g. `pools[0].accounts[2]`. */
  readonly path: string;
  /** undefined when the id is missing or invalid (already reported). */
  readonly id: string | undefined;
  readonly spec: AccountSpec;
  readonly secret: Secret | undefined;
  /** The file the secret was read from, if it came from one (watched for hot reload). */
  readonly secretFile: string | undefined;
}

/** The drafts of every pool that could be walked; compile them only when no problem was recorded. */
export function walkPools(data: unknown, fields: Fields, sources: SecretSources): PoolDraft[] {
  const problems = fields.problems;
  const top = fields.mapping(data, '', ['pools']);
  if (top === undefined) return [];
  if (top.pools === undefined) {
    problems.add('pools', 'is required and must list at least one pool');
    return [];
  }
  const entries = fields.list(top.pools, 'pools', true) ?? [];
  const pools: PoolDraft[] = [];
  const paths: string[] = [];
  entries.forEach((entry, index) => {
    const pool = walkPool(entry, item('pools', index), fields, sources);
    if (pool === undefined) return;
    pools.push(pool);
    paths.push(item('pools', index));
  });
  checkAcrossPools(pools, paths, entries.length, problems);
  return pools;
}

function walkPool(value: unknown, path: string, fields: Fields, sources: SecretSources): PoolDraft | undefined {
  const raw = fields.mapping(value, path, POOL_KEYS);
  if (raw === undefined) return undefined;
  const problems = fields.problems;
  const name = requiredName(raw, 'name', path, fields);

  // Walked in document order so problems are listed in the order an operator reads the file.
  const clusters = raw.match === undefined ? undefined : walkMatch(raw.match, at(path, 'match'), fields);
  const credential = walkCredential(raw.credential, at(path, 'credential'), fields);
  const stripHeaders =
    raw.stripHeaders === undefined
      ? [...DEFAULTS.stripHeaders]
      : fields.headerList(raw.stripHeaders, at(path, 'stripHeaders'), false) ?? [];
  stripHeaders.forEach((header, index) => checkMutable(header, item(at(path, 'stripHeaders'), index), fields));
  const failover = walkFailover(raw.failover, at(path, 'failover'), fields);
  const health = walkHealth(raw.health, at(path, 'health'), new Set(failover.disableOn), fields);
  const errorBodies = raw.errorBodies === undefined ? undefined : walkErrorBodies(raw.errorBodies, at(path, 'errorBodies'), fields);
  const cooldown = walkCooldown(raw.cooldown, at(path, 'cooldown'), fields);
  const sticky = raw.sticky === undefined ? undefined : walkSticky(raw.sticky, at(path, 'sticky'), fields);

  const accounts: AccountDraft[] = [];
  if (raw.accounts === undefined) problems.add(at(path, 'accounts'), 'is required and must list at least one account');
  else {
    const entries = fields.list(raw.accounts, at(path, 'accounts'), true) ?? [];
    entries.forEach((entry, index) => {
      const account = walkAccount(entry, item(at(path, 'accounts'), index), fields, sources);
      if (account !== undefined) accounts.push(account);
    });
  }

  return {
    name,
    clusters,
    credential,
    stripHeaders,
    failoverStatuses: failover.statuses,
    maxAttempts: failover.maxAttempts,
    health,
    errorBodies,
    cooldown,
    sticky,
    accounts,
  };
}

function walkAccount(value: unknown, path: string, fields: Fields, sources: SecretSources): AccountDraft | undefined {
  const raw = fields.mapping(value, path, ACCOUNT_KEYS);
  if (raw === undefined) return undefined;
  const problems = fields.problems;
  const id = requiredName(raw, 'id', path, fields);

  let secret: Secret | undefined;
  if (raw.secret === undefined) problems.add(at(path, 'secret'), 'is required (secret: { file: /path } or { env: NAME })');
  else secret = resolveSecret(raw.secret, at(path, 'secret'), id === undefined ? '' : `account ${id}`, sources, fields);

  const priority = raw.priority === undefined ? DEFAULTS.priority : fields.integer(raw.priority, at(path, 'priority'), 0);
  const weight = raw.weight === undefined ? DEFAULTS.weight : fields.positiveNumber(raw.weight, at(path, 'weight'));
  const quotaGroup = raw.quotaGroup === undefined ? undefined : fields.text(raw.quotaGroup, at(path, 'quotaGroup'));
  const maxConcurrency =
    raw.maxConcurrency === undefined ? undefined : fields.integer(raw.maxConcurrency, at(path, 'maxConcurrency'), 1);

  // Optional fields are left out rather than set to undefined, so dumps stay clean.
  const spec: AccountSpec = {
    id: id ?? '',
    priority: priority ?? DEFAULTS.priority,
    weight: weight ?? DEFAULTS.weight,
    ...(quotaGroup === undefined ? {} : { quotaGroup }),
    ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
  };
  const ref = raw.secret as { file?: unknown } | undefined;
  const secretFile = secret !== undefined && typeof ref?.file === 'string' ? ref.file : undefined;
  return { path, id, spec, secret, secretFile };
}

/** A pool's name or an account's id; undefined when missing or invalid (reported). */
function requiredName(raw: Mapping, key: 'name' | 'id', path: string, fields: Fields): string | undefined {
  if (raw[key] !== undefined) return fields.name(raw[key], at(path, key));
  fields.problems.add(at(path, key), 'is required');
  return undefined;
}

function walkMatch(value: unknown, path: string, fields: Fields): string[] {
  const raw = fields.mapping(value, path, ['clusters']);
  if (raw === undefined) return [];
  // An empty match would read as "serves every cluster"; that is said by leaving match out.
  if (raw.clusters === undefined) {
    fields.problems.add(at(path, 'clusters'), 'is required and must list at least one cluster');
    return [];
  }
  const entries = fields.list(raw.clusters, at(path, 'clusters'), true) ?? [];
  const clusters: string[] = [];
  entries.forEach((entry, index) => {
    const cluster = fields.text(entry, item(at(path, 'clusters'), index));
    if (cluster === undefined) return;
    if (clusters.includes(cluster)) fields.problems.add(item(at(path, 'clusters'), index), `duplicate cluster ${describe(cluster)}`);
    else clusters.push(cluster);
  });
  return clusters;
}

function walkCredential(value: unknown, path: string, fields: Fields): CredentialSpec {
  if (value === undefined) return { header: DEFAULTS.credentialHeader, prefix: DEFAULTS.bearerPrefix };
  const raw = fields.mapping(value, path, ['header', 'prefix']) ?? {};
  const header = raw.header === undefined ? DEFAULTS.credentialHeader : fields.headerName(raw.header, at(path, 'header'));
  if (header !== undefined) checkMutable(header, at(path, 'header'), fields);
  const defaultPrefix = header === DEFAULTS.credentialHeader ? DEFAULTS.bearerPrefix : '';
  const prefix = raw.prefix === undefined ? defaultPrefix : fields.headerValue(raw.prefix, at(path, 'prefix'));
  return { header: header ?? DEFAULTS.credentialHeader, prefix: prefix ?? '' };
}

/** Envoy's default mutation rules silently ignore these, so a config naming them cannot work. */
function checkMutable(header: string, path: string, fields: Fields): void {
  if (header === 'host' || header.startsWith('x-envoy-')) {
    fields.problems.add(path, `Envoy ignores mutations of host and x-envoy-* headers, got ${describe(header)}`);
  }
}

interface FailoverDraft {
  readonly statuses: number[];
  readonly disableOn: number[];
  readonly maxAttempts: number;
}

function walkFailover(value: unknown, path: string, fields: Fields): FailoverDraft {
  const fallback = { statuses: [...DEFAULTS.failoverStatuses], disableOn: [...DEFAULTS.disableOn], maxAttempts: DEFAULTS.maxAttempts };
  if (value === undefined) return fallback;
  const raw = fields.mapping(value, path, ['statuses', 'disableOn', 'maxAttempts']);
  if (raw === undefined) return fallback;
  const statuses = raw.statuses === undefined ? fallback.statuses : statusList(raw.statuses, at(path, 'statuses'), fields);
  const disableOn = raw.disableOn === undefined ? fallback.disableOn : statusList(raw.disableOn, at(path, 'disableOn'), fields, false);
  disableOn.forEach((status, index) => {
    if (!statuses.includes(status)) return;
    const where = raw.disableOn === undefined ? at(path, 'statuses') : item(at(path, 'disableOn'), index);
    fields.problems.add(where, `status ${status} is in both statuses (cool down) and disableOn (disable); pick one`);
  });
  const maxAttempts =
    raw.maxAttempts === undefined
      ? DEFAULTS.maxAttempts
      : fields.integer(raw.maxAttempts, at(path, 'maxAttempts'), 1, DEFAULTS.maxAttemptsLimit) ?? DEFAULTS.maxAttempts;
  return { statuses, disableOn, maxAttempts };
}

/** Distinct HTTP error statuses (400..599). */
function statusList(value: unknown, path: string, fields: Fields, nonEmpty = true): number[] {
  const statuses: number[] = [];
  const entries = fields.list(value, path, nonEmpty) ?? [];
  entries.forEach((entry, index) => {
    const status = fields.integer(entry, item(path, index), 400, 599);
    if (status === undefined) return;
    if (statuses.includes(status)) fields.problems.add(item(path, index), `duplicate status ${status}`);
    else statuses.push(status);
  });
  return statuses;
}

function walkCooldown(value: unknown, path: string, fields: Fields): CooldownPolicy {
  const raw: Mapping = value === undefined ? {} : fields.mapping(value, path, ['default', 'overload', 'max']) ?? {};
  const read = (key: string, fallback: number): number | undefined =>
    raw[key] === undefined ? fallback : fields.duration(raw[key], at(path, key));
  const defaultMs = read('default', DEFAULTS.cooldownDefaultMs);
  const overloadMs = read('overload', DEFAULTS.cooldownOverloadMs);
  const maxMs = read('max', DEFAULTS.cooldownMaxMs);
  if (maxMs !== undefined) {
    const maxText = raw.max === undefined ? 'the default max 6h' : `max ${describe(raw.max)}`;
    for (const [key, ms] of [['default', defaultMs], ['overload', overloadMs]] as const) {
      if (ms !== undefined && ms > maxMs) {
        const got = raw[key] === undefined ? 'its default' : describe(raw[key]);
        fields.problems.add(at(path, key), `must not be longer than ${maxText}, got ${got}`);
      }
    }
  }
  return {
    defaultMs: defaultMs ?? DEFAULTS.cooldownDefaultMs,
    overloadMs: overloadMs ?? DEFAULTS.cooldownOverloadMs,
    maxMs: maxMs ?? DEFAULTS.cooldownMaxMs,
  };
}

function walkSticky(value: unknown, path: string, fields: Fields): StickyPolicy | undefined {
  const raw = fields.mapping(value, path, ['headers', 'ttl', 'grace', 'maxBindings']);
  if (raw === undefined) return undefined;
  let headers: string[] = [];
  if (raw.headers === undefined) fields.problems.add(at(path, 'headers'), 'is required and must list at least one header');
  else headers = fields.headerList(raw.headers, at(path, 'headers'), true) ?? [];
  const ttlMs = raw.ttl === undefined ? DEFAULTS.stickyTtlMs : fields.duration(raw.ttl, at(path, 'ttl'));
  // grace 0s is meaningful: any cooldown of the bound account ends the binding.
  const graceMs = raw.grace === undefined ? DEFAULTS.stickyGraceMs : fields.duration(raw.grace, at(path, 'grace'), true);
  const maxBindings =
    raw.maxBindings === undefined ? DEFAULTS.stickyMaxBindings : fields.integer(raw.maxBindings, at(path, 'maxBindings'), 1);
  return {
    headers,
    ttlMs: ttlMs ?? DEFAULTS.stickyTtlMs,
    graceMs: graceMs ?? DEFAULTS.stickyGraceMs,
    maxBindings: maxBindings ?? DEFAULTS.stickyMaxBindings,
  };
}

/**
 * Pool names, account ids, clusters and quota groups are unique across the whole config, and
 * every pool needs `match` once `declared` (all entries, walked or not) is more than one.
 */
function checkAcrossPools(pools: readonly PoolDraft[], paths: readonly string[], declared: number, problems: Problems): void {
  const poolNames = new Map<string, string>();
  const accountIds = new Map<string, string>();
  const clusterOwners = new Map<string, string>();
  const quotaGroupOwners = new Map<string, string>();
  pools.forEach((pool, p) => {
    const path = paths[p] ?? '';
    if (pool.name !== undefined) {
      const first = poolNames.get(pool.name);
      if (first !== undefined) problems.add(`${path}.name`, `duplicate pool name ${describe(pool.name)} (first at ${first})`);
      else poolNames.set(pool.name, `${path}.name`);
    }
    // Account ids are metric labels and store keys across the whole config, not per pool.
    for (const account of pool.accounts) {
      checkQuotaGroup(account, pool.name ?? path, quotaGroupOwners, problems);
      if (account.id === undefined) continue;
      const idPath = `${account.path}.id`;
      const first = accountIds.get(account.id);
      if (first !== undefined) problems.add(idPath, `duplicate account id ${describe(account.id)} (first at ${first})`);
      else accountIds.set(account.id, idPath);
    }
    if (pool.clusters === undefined) {
      if (declared > 1) problems.add(`${path}.match`, 'is required when there is more than one pool (match: { clusters: [...] })');
      return;
    }
    pool.clusters.forEach((cluster, c) => {
      const clusterPath = item(`${path}.match.clusters`, c);
      const owner = clusterOwners.get(cluster);
      if (owner !== undefined) problems.add(clusterPath, `cluster ${describe(cluster)} already belongs to another pool (${owner})`);
      else clusterOwners.set(cluster, clusterPath);
    });
  });
}

/**
 * Cooldowns live in each pool's scheduler, so a quota group shared by two pools would not cool
 * together; accounts of one provider quota belong in one pool (which may match several clusters).
 */
function checkQuotaGroup(
  account: AccountDraft,
  pool: string,
  owners: Map<string, string>,
  problems: Problems,
): void {
  if (account.spec.quotaGroup === undefined) return;
  const owner = owners.get(account.spec.quotaGroup);
  if (owner === undefined) owners.set(account.spec.quotaGroup, pool);
  else if (owner !== pool) {
    problems.add(
      `${account.path}.quotaGroup`,
      `quota group ${describe(account.spec.quotaGroup)} is already used by pool ${describe(owner)}; a quota group belongs to one pool`,
    );
  }
}
