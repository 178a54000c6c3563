/**
 * The one path every config (file or embedded) goes through: text → plain data → checked drafts
 * → frozen CompiledConfig. Every problem found on the way is reported at once, in one ConfigError.
 */
import { readFileSync } from 'node:fs';
import { compileConfig, type CompiledConfig } from './compile';
import { ConfigError, Fields, Problems } from './fields';
import { parseYaml } from './parse-yaml';
import { walkPools } from './pool-walk';
import type { Env, ReadSecretFile } from './secrets';

const readUtf8: ReadSecretFile = (path) => readFileSync(path, 'utf8');

/**
 * Compiles config text. `source` names the text in every error (usually the file path).
 * Secrets come from `env` and `readSecretFile` (default: read the file as UTF-8).
 * Throws one ConfigError listing every problem found.
 */
export function parseConfig(text: string, source: string, env: Env, readSecretFile: ReadSecretFile = readUtf8): CompiledConfig {
  const problems = new Problems(source);
  const data = parseYaml(text, problems);
  // A document that does not parse has no fields to walk.
  problems.throwIfAny();
  const drafts = walkPools(data, new Fields(problems), { env, readFile: readSecretFile });
  problems.throwIfAny();
  return compileConfig(source, drafts);
}

/** Throws ConfigError (naming the file) when the file cannot be read or the config is invalid. */
export function loadConfigFile(path: string, env: Env): CompiledConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
    throw new ConfigError([`${path}: cannot read config file (${code})`]);
  }
  return parseConfig(text, path, env);
}
