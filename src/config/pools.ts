/** Finding the pool that serves an attempt. */
import type { CompiledConfig, CompiledPool } from './types';

/**
 * The pool serving an Envoy cluster (attribute xds.cluster_name): a single pool without `match`
 * serves every cluster, including an unknown one; otherwise the cluster must be listed exactly.
 */
export function poolForCluster(config: CompiledConfig, cluster: string | undefined): CompiledPool | undefined {
  const only = config.pools.length === 1 ? config.pools[0] : undefined;
  if (only !== undefined && only.clusters.size === 0) return only;
  if (cluster === undefined) return undefined;
  return config.pools.find((pool) => pool.clusters.has(cluster));
}
