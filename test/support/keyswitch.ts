import { Writable } from 'node:stream';
import { type App, startApp } from '../../src/app';
import { embeddedConfig, loadConfigFile, parseConfig } from '../../src/config';
import type { Clock, Random } from '../../src/core/clock';
import { createLogger } from '../../src/ops/logger';
import { type Settings, readSettings } from '../../src/settings';

export interface KeyswitchOptions {
  /** Pool/account YAML; the embedded demo config when absent. */
  readonly configYaml?: string;
  /** A config file instead, which keyswitch watches and reloads. */
  readonly configPath?: string;
  /** Environment for secret references and settings. */
  readonly env?: Record<string, string>;
  readonly listen?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly settings?: Partial<Settings>;
}

export interface RunningKeyswitch {
  readonly app: App;
  readonly address: string;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Every log line written so far, raw, for secret scans. */
  readonly rawLogs: () => string;
  stop(): Promise<void>;
}

/** keyswitch in-process on a real socket, with its log lines captured (debug level unless settings say otherwise). */
export async function startKeyswitch(options: KeyswitchOptions = {}): Promise<RunningKeyswitch> {
  const env = options.env ?? {};
  const config = options.configPath
    ? loadConfigFile(options.configPath, env)
    : options.configYaml
      ? parseConfig(options.configYaml, 'test-config.yaml', env)
      : embeddedConfig(env);
  const settings: Settings = {
    ...readSettings({
      KEYSWITCH_GRPC_LISTEN: options.listen ?? '127.0.0.1:0',
      KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0',
      KEYSWITCH_LOG_LEVEL: 'debug',
      KEYSWITCH_DRAIN_SECONDS: '0',
    }),
    ...(options.configPath && { configPath: options.configPath }),
    ...options.settings,
  };
  let raw = '';
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString('utf8');
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger(settings.logLevel, sink);
  const app = await startApp({ settings, config, logger, env, ...(options.clock && { clock: options.clock }), ...(options.random && { random: options.random }) });
  return { app, address: app.grpcAddress, logs, rawLogs: () => raw, stop: () => app.stop() };
}

/** Polls a condition a bounded number of times; for state that settles after a socket event. */
export async function eventually(condition: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never became true: ${what}`);
}
