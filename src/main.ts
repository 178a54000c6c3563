#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, embeddedConfig, loadConfigFile } from './config';
import { type App, startApp } from './app';
import { ListenError } from './listen';
import { createLogger, routeGrpcLogs, type Logger } from './ops/logger';
import { SettingsError, USAGE, helpText, readSettings } from './settings';

/** What the command line asked for; anything it does not know is an error, never ignored. */
type Command =
  | { readonly run: 'help' }
  | { readonly run: 'version' }
  | { readonly run: 'serve'; readonly configFlag: string | undefined };

class UsageError extends Error {}

function parseArguments(argv: readonly string[]): Command {
  let configFlag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { run: 'help' };
    if (arg === '--version' || arg === '-V') return { run: 'version' };
    if (arg === '--config' || arg.startsWith('--config=')) {
      const value = arg === '--config' ? argv[++i] : arg.slice('--config='.length);
      if (!value || value.startsWith('-')) throw new UsageError('--config: expected a file path');
      configFlag = value;
      continue;
    }
    throw new UsageError(`unknown argument "${arg}"`);
  }
  return { run: 'serve', configFlag };
}

function version(): string {
  const manifest = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** Process shell: arguments and settings → startApp(); signals → stop(). Resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  let settings;
  let config;
  try {
    const command = parseArguments(argv);
    if (command.run === 'help') {
      process.stdout.write(helpText() + '\n');
      return 0;
    }
    if (command.run === 'version') {
      process.stdout.write(`keyswitch ${version()}\n`);
      return 0;
    }
    settings = readSettings(process.env, command.configFlag);
    config = settings.configPath ? loadConfigFile(settings.configPath, process.env) : embeddedConfig(process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      fatal(error.message);
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    if (error instanceof SettingsError || error instanceof ConfigError) return fatal(error.message);
    throw error;
  }
  const logger = createLogger(settings.logLevel);
  routeGrpcLogs(logger);
  // Once running, even a crash is a log line in the one format operators collect.
  process.once('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'bug: uncaught exception, exiting');
    flush(logger);
    process.exit(1);
  });
  // Listen before starting, so a signal that arrives during start-up still stops cleanly.
  // SIGHUP's default action ends the process; here it only ever asks for a reload.
  let app: App | undefined;
  process.on('SIGHUP', () => {
    if (app === undefined) logger.info('SIGHUP before start-up finished: nothing to reload yet');
    else void app.reload('SIGHUP');
  });
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  try {
    app = await startApp({ settings, config, logger, env: process.env });
  } catch (error) {
    if (error instanceof ListenError) return fatal(error.message);
    throw error;
  }
  if (!settings.configPath) {
    logger.warn('KEYSWITCH_CONFIG is not set: serving the embedded demo pool with placeholder keys; not for production');
  }
  logger.info({ signal: await stopSignal }, 'stopping');
  // A second signal means now: no drain, no grace.
  const again = (signal: NodeJS.Signals): void => {
    logger.warn({ signal, open: app.activeAttempts() }, 'second signal: exiting at once');
    flush(logger);
    process.exit(1);
  };
  process.once('SIGTERM', again);
  process.once('SIGINT', again);
  await app.stop();
  flush(logger);
  return 0;
}

/** Fatal start-up errors are plain text on stderr, one problem per line. */
function fatal(message: string): number {
  for (const line of message.split('\n')) process.stderr.write(`keyswitch: ${line}\n`);
  return 2;
}

function flush(logger: Logger): void {
  (logger as Logger & { flush?: () => void }).flush?.();
}

// process.exit, not exitCode: a server left bound by a failure must not keep the process alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keyswitch: bug: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
