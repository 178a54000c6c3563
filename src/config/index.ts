/** Public surface of the config module. */
export { parseConfig } from './compile';
export { poolForCluster } from './pools';
export { DEFAULTS } from './defaults';
export { embeddedConfig, EMBEDDED_CONFIG_YAML, EMBEDDED_SOURCE } from './embedded';
export { ConfigError } from './errors';
export { loadConfigFile } from './load';
export { Secret } from './secret';
export type { Env, ReadSecretFile } from './secrets';
export type { CompiledConfig, CompiledPool, CredentialSpec } from './types';
