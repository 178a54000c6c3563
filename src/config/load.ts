/** Reads a config file from disk and compiles it. */
import { readFileSync } from 'node:fs';
import { parseConfig } from './compile';
import { ConfigError } from './errors';
import type { Env } from './secrets';
import type { CompiledConfig } from './types';

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
