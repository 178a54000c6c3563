#!/usr/bin/env node
import { ConfigError, embeddedConfig, loadConfigFile } from './config';
import { startApp } from './app';
import { createLogger } from './ops/logger';
import { SettingsError, helpText, readSettings } from './settings';

/** Process shell: arguments and settings → startApp(); signals → stop(). */
async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  let settings;
  let config;
  try {
    settings = readSettings(process.env, configFlag(argv));
    config = settings.configPath ? loadConfigFile(settings.configPath, process.env) : embeddedConfig(process.env);
  } catch (error) {
    if (error instanceof SettingsError || error instanceof ConfigError) {
      process.stderr.write(`keyswitch: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(settings.logLevel);
  if (!settings.configPath) {
    logger.warn('KEYSWITCH_CONFIG is not set: serving the embedded demo pool with placeholder keys; not for production');
  }
  // Listen before starting, so a signal that arrives during start-up still stops cleanly.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const app = await startApp({ settings, config, logger });
  logger.info({ signal: await stopSignal }, 'stopping');
  await app.stop();
  return 0;
}

function configFlag(argv: readonly string[]): string | undefined {
  const index = argv.findIndex((arg) => arg === '--config' || arg.startsWith('--config='));
  if (index < 0) return undefined;
  const arg = argv[index]!;
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[index + 1];
  if (!value) throw new SettingsError('--config: expected a file path');
  return value;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`keyswitch: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
