/**
 * Process settings: the only module that reads process.env. Validated once at start; a bad
 * setting is a SettingsError naming the variable, and main exits with status 2.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Settings {
  /** Pool/account YAML file; undefined means the embedded demo config. */
  readonly configPath: string | undefined;
  /** `host:port`, `[v6]:port` or `unix:/absolute/path`. */
  readonly grpcListen: string;
  readonly adminListen: string;
  readonly logLevel: LogLevel;
  /** Largest gRPC message accepted from Envoy, in bytes. */
  readonly grpcMaxReceiveBytes: number;
  /** Concurrent Process streams per HTTP/2 connection; Envoy opens more connections past it. */
  readonly grpcMaxStreams: number;
  /** After SIGTERM, how long open attempts may finish before their streams are closed. */
  readonly shutdownGraceMs: number;
}

export class SettingsError extends Error {}

interface SettingDoc {
  readonly name: string;
  readonly fallback: string;
  readonly meaning: string;
}

/** Also the source of `keyswitch --help`, so the help text cannot drift from the code. */
export const SETTINGS: readonly SettingDoc[] = [
  { name: 'KEYSWITCH_CONFIG', fallback: '(embedded demo pool)', meaning: 'pool/account YAML file; --config PATH overrides it' },
  { name: 'KEYSWITCH_GRPC_LISTEN', fallback: '127.0.0.1:50051', meaning: 'ext_proc gRPC address: host:port, [::1]:port or unix:/path' },
  { name: 'KEYSWITCH_ADMIN_LISTEN', fallback: '127.0.0.1:9902', meaning: 'admin HTTP address (validated; not served yet)' },
  { name: 'KEYSWITCH_LOG_LEVEL', fallback: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent' },
  { name: 'KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', fallback: '4194304', meaning: 'largest gRPC message accepted from Envoy' },
  { name: 'KEYSWITCH_GRPC_MAX_STREAMS', fallback: '10000', meaning: 'concurrent Process streams per HTTP/2 connection' },
  {
    name: 'KEYSWITCH_SHUTDOWN_GRACE_SECONDS',
    fallback: '300',
    meaning: 'after SIGTERM, how long open attempts (LLM calls awaiting response headers) may finish',
  },
];

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Readonly<Record<string, string | undefined>>;

export function readSettings(env: Env, configFlag?: string): Settings {
  const value = (name: string): string => {
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== '') return raw.trim();
    const doc = SETTINGS.find((s) => s.name === name);
    return doc ? doc.fallback : '';
  };
  // Set but empty is a templating mistake, not a request for the demo pool.
  if (configFlag === undefined && env.KEYSWITCH_CONFIG !== undefined && env.KEYSWITCH_CONFIG.trim() === '') {
    throw new SettingsError('KEYSWITCH_CONFIG: set but empty; unset it to run the embedded demo pool');
  }
  const configPath = configFlag ?? env.KEYSWITCH_CONFIG?.trim();
  const logLevel = value('KEYSWITCH_LOG_LEVEL');
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new SettingsError(`KEYSWITCH_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  return {
    configPath,
    grpcListen: listenAddress('KEYSWITCH_GRPC_LISTEN', value('KEYSWITCH_GRPC_LISTEN')),
    adminListen: listenAddress('KEYSWITCH_ADMIN_LISTEN', value('KEYSWITCH_ADMIN_LISTEN')),
    logLevel: logLevel as LogLevel,
    grpcMaxReceiveBytes: positiveInteger('KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', value('KEYSWITCH_GRPC_MAX_RECEIVE_BYTES')),
    grpcMaxStreams: positiveInteger('KEYSWITCH_GRPC_MAX_STREAMS', value('KEYSWITCH_GRPC_MAX_STREAMS')),
    shutdownGraceMs: positiveInteger('KEYSWITCH_SHUTDOWN_GRACE_SECONDS', value('KEYSWITCH_SHUTDOWN_GRACE_SECONDS')) * 1000,
  };
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new SettingsError(`${name}: expected a positive integer, got "${text}"`);
  }
  return n;
}

function listenAddress(name: string, text: string): string {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new SettingsError(`${name}: a unix socket needs an absolute path, got "${text}"`);
    return `unix:${path}`;
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535) {
    throw new SettingsError(`${name}: expected host:port, [v6]:port or unix:/path, got "${text}"`);
  }
  return text;
}

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  ${s.name.padEnd(34)} ${s.meaning}\n  ${''.padEnd(34)} default: ${s.fallback}`);
  return [
    'keyswitch: Envoy ext_proc sidecar that picks an LLM account per upstream attempt',
    'and fails over on 429/529 (Envoy >= 1.37, upstream ext_proc filter).',
    '',
    'Usage: keyswitch [--config PATH] [--help]',
    '',
    'Settings (environment):',
    ...rows,
    '',
    'Exit status: 0 after a clean stop, 2 for a bad setting or config, 1 for anything else.',
  ].join('\n');
}
