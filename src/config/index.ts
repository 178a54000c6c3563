/**
 * Public surface of the config module: code outside src/config imports from here only. Types
 * that appear in these signatures are exported with them.
 */
export { poolForCluster, type CompiledConfig, type CompiledPool, type CredentialSpec } from './compile';
export { embeddedConfig, EMBEDDED_SOURCE } from './embedded';
export { ConfigError } from './fields';
export { BUILTIN_BODY_RULES } from './health-walk';
export { loadConfigFile, parseConfig } from './load';
export { Secret, type Env, type ReadSecretFile } from './secrets';
