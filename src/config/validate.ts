/**
 * YAML text → checked drafts. Parses to plain data, walks it with field paths, then applies the
 * rules that span pools. Every problem is collected; the caller throws once.
 */
import { parseDocument } from 'yaml';
import type { Problems } from './errors';
import { walkPool, type PoolDraft } from './pool';
import { describe, Fields, item } from './schema';
import type { SecretSources } from './secrets';

/** Returns the drafts; when `problems.count > 0` afterwards they must not be compiled. */
export function validate(text: string, problems: Problems, sources: SecretSources): PoolDraft[] {
  const data = parseYaml(text, problems);
  if (problems.count > 0) return [];
  const fields = new Fields(problems);
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

function parseYaml(text: string, problems: Problems): unknown {
  // uniqueKeys: a repeated key would otherwise silently win; merge keys stay off (YAML 1.2).
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  for (const error of doc.errors) {
    const position = error.linePos?.[0] ?? { line: 0, col: 0 };
    problems.addAt(position.line, position.col, `YAML syntax: ${syntaxMessage(error.message)}`);
  }
  if (doc.errors.length > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.add('', `YAML: ${syntaxMessage(err instanceof Error ? err.message : String(err))}`);
    return undefined;
  }
}

/**
 * The yaml library appends the position and a snippet of the offending line, and some messages
 * quote the token: either could be a pasted key, so only the leading description is kept.
 */
function syntaxMessage(message: string): string {
  const firstLine = message.split('\n')[0] ?? '';
  return firstLine.replace(/ at line \d+, column \d+:?$/, '').replace(/:.*$/, '');
}

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
  account: PoolDraft['accounts'][number],
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
