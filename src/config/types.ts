/** The compiled, immutable runtime config handed to the rest of keyswitch. */
import type { PoolPolicy } from '../core/policy';
import type { Secret } from './secret';

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
  readonly accountCount: number;
}
