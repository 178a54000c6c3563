/**
 * Process settings: the only module that reads process.env. Validated once at start. Every bad
 * or unknown setting is reported at once in one SettingsError, each problem naming its
 * variable; main prints them and exits with status 2.
 */

import { hostAndPort } from './listen';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Settings {
  /** Pool/account YAML file; undefined means the embedded demo config. */
  readonly configPath: string | undefined;
  /** `host:port`, `[v6]:port` or `unix:/absolute/path`. */
  readonly grpcListen: string;
  /** Group (numeric id) the ext_proc socket is given, so Envoy's user in that group can connect. */
  readonly grpcSocketGroup: number | undefined;
  /** A TCP ext_proc listener off loopback is refused unless this is set. */
  readonly grpcAllowRemote: boolean;
  /** Serve gRPC server reflection (off: it maps the service for anyone who can connect). */
  readonly grpcReflection: boolean;
  readonly adminListen: string;
  readonly logLevel: LogLevel;
  /** Largest gRPC message accepted from Envoy, in bytes. */
  readonly grpcMaxReceiveBytes: number;
  /** Concurrent Process streams per HTTP/2 connection; Envoy opens more connections past it. */
  readonly grpcMaxStreams: number;
  /** After SIGTERM, how long new streams are still accepted (not ready, still serving). */
  readonly drainMs: number;
  /** After the drain window, how long open attempts may finish before their streams are closed; 0 closes at once. */
  readonly shutdownGraceMs: number;
  /** A file with the admin bearer token; required when the admin listener is off loopback. */
  readonly adminTokenFile: string | undefined;
}

export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

interface SettingDoc {
  readonly name: string;
  readonly fallback: string;
  readonly meaning: string;
}

/** Also the source of `keyswitch --help`, so the help text cannot drift from the code. */
export const SETTINGS: readonly SettingDoc[] = [
  { name: 'KEYSWITCH_CONFIG', fallback: '(embedded demo pool)', meaning: 'pool/account YAML file; --config PATH overrides it' },
  { name: 'KEYSWITCH_GRPC_LISTEN', fallback: '127.0.0.1:50051', meaning: 'ext_proc gRPC address: host:port, [::1]:port or unix:/path' },
  {
    name: 'KEYSWITCH_GRPC_SOCKET_GROUP',
    fallback: '(the process group)',
    meaning: 'numeric group id given to the unix socket (mode 0660), e.g. the pod fsGroup Envoy shares',
  },
  {
    name: 'KEYSWITCH_GRPC_ALLOW_REMOTE',
    fallback: 'false',
    meaning: 'true allows a TCP ext_proc listener off loopback (anyone reaching it receives live keys)',
  },
  { name: 'KEYSWITCH_GRPC_REFLECTION', fallback: 'false', meaning: 'true serves gRPC server reflection' },
  {
    name: 'KEYSWITCH_ADMIN_LISTEN',
    fallback: '127.0.0.1:9902',
    meaning: 'admin HTTP address: /healthz, /readyz, /metrics, status page, /v1/pools; off loopback needs a token file',
  },
  { name: 'KEYSWITCH_ADMIN_TOKEN_FILE', fallback: '(none)', meaning: 'file holding the admin bearer token; required off loopback' },
  { name: 'KEYSWITCH_LOG_LEVEL', fallback: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent (any case)' },
  { name: 'KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', fallback: '4194304', meaning: 'largest gRPC message accepted from Envoy' },
  { name: 'KEYSWITCH_GRPC_MAX_STREAMS', fallback: '10000', meaning: 'concurrent Process streams per HTTP/2 connection' },
  {
    name: 'KEYSWITCH_DRAIN_SECONDS',
    fallback: '10',
    meaning: 'after SIGTERM, how long new streams are still accepted while readiness says not ready',
  },
  {
    name: 'KEYSWITCH_SHUTDOWN_GRACE_SECONDS',
    fallback: '15',
    meaning: 'after the drain window, how long open attempts (LLM calls awaiting response headers) may finish; 0 closes them at once',
  },
];

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const PREFIX = 'KEYSWITCH_';
/**
 * Kubernetes injects, for every Service in the namespace, `<NAME>_SERVICE_HOST`, `_SERVICE_PORT`
 * and Docker-link `<NAME>_PORT...` variables (Kubernetes docs, "Service" → "Environment
 * variables"). A Service named keyswitch-anything would otherwise stop keyswitch from starting.
 */
const SERVICE_LINK = /^KEYSWITCH_[A-Z0-9_]*_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$/;

type Env = Readonly<Record<string, string | undefined>>;

export function readSettings(env: Env, configFlag?: string): Settings {
  const problems: string[] = [];
  /** Runs one check; a failed check records its problem. */
  const check = <T>(name: string, parse: (text: string) => T): T => {
    const raw = env[name];
    const text = raw !== undefined && raw.trim() !== '' ? raw.trim() : SETTINGS.find((s) => s.name === name)!.fallback;
    try {
      return parse(text);
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      problems.push(`${name}: ${error.message}`);
      // Never used: readSettings throws once every problem is collected.
      return undefined as T;
    }
  };

  for (const name of Object.keys(env)) {
    if (!name.startsWith(PREFIX) || SETTINGS.some((s) => s.name === name) || SERVICE_LINK.test(name)) continue;
    const near = closest(name, SETTINGS.map((s) => s.name));
    problems.push(`${name}: not a keyswitch setting${near ? `; did you mean ${near}?` : ''}`);
  }
  // Set but empty is a templating mistake, not a request for the demo pool.
  if (configFlag === undefined && env.KEYSWITCH_CONFIG !== undefined && env.KEYSWITCH_CONFIG.trim() === '') {
    problems.push('KEYSWITCH_CONFIG: set but empty; unset it to run the embedded demo pool');
  }
  const settings: Settings = {
    configPath: configFlag ?? (env.KEYSWITCH_CONFIG?.trim() || undefined),
    grpcListen: check('KEYSWITCH_GRPC_LISTEN', listenAddress),
    grpcSocketGroup: env.KEYSWITCH_GRPC_SOCKET_GROUP?.trim() ? check('KEYSWITCH_GRPC_SOCKET_GROUP', (text) => integer(text, 0)) : undefined,
    grpcAllowRemote: check('KEYSWITCH_GRPC_ALLOW_REMOTE', boolean),
    grpcReflection: check('KEYSWITCH_GRPC_REFLECTION', boolean),
    adminListen: check('KEYSWITCH_ADMIN_LISTEN', listenAddress),
    logLevel: check('KEYSWITCH_LOG_LEVEL', logLevel),
    grpcMaxReceiveBytes: check('KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', (text) => integer(text, 1)),
    grpcMaxStreams: check('KEYSWITCH_GRPC_MAX_STREAMS', (text) => integer(text, 1)),
    drainMs: check('KEYSWITCH_DRAIN_SECONDS', (text) => seconds(text)),
    shutdownGraceMs: check('KEYSWITCH_SHUTDOWN_GRACE_SECONDS', (text) => seconds(text)),
    adminTokenFile: env.KEYSWITCH_ADMIN_TOKEN_FILE?.trim() || undefined,
  };
  // Anything that can send request_headers receives a live credential. (A listen address whose
  // own check failed is undefined here and already reported.)
  if (settings.grpcListen !== undefined && !isLoopback(settings.grpcListen) && !settings.grpcAllowRemote) {
    problems.push(
      `KEYSWITCH_GRPC_LISTEN: ${settings.grpcListen} is off loopback and hands account keys to anyone who reaches it; ` +
        'use a unix socket, or set KEYSWITCH_GRPC_ALLOW_REMOTE=true behind a network policy',
    );
  }
  if (settings.adminTokenFile !== undefined && !settings.adminTokenFile.startsWith('/')) {
    problems.push(`KEYSWITCH_ADMIN_TOKEN_FILE: expected an absolute path, got "${settings.adminTokenFile}"`);
  }
  // Kubernetes probes and Prometheus reach the pod IP, but the actions must not be open to it.
  if (settings.adminListen !== undefined && !isLoopback(settings.adminListen) && settings.adminTokenFile === undefined) {
    problems.push(`KEYSWITCH_ADMIN_LISTEN: ${settings.adminListen} is off loopback, so KEYSWITCH_ADMIN_TOKEN_FILE must be set`);
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return settings;
}

/** 127.0.0.0/8, ::1, localhost or a unix socket: reachable from this pod only. */
export function isLoopback(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  const host = hostAndPort(address).host.toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A value that does not parse; readSettings adds the variable's name. */
class Problem extends Error {}

function logLevel(text: string): LogLevel {
  const level = text.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new Problem(`expected one of ${LOG_LEVELS.join(', ')}, got "${text}"`);
  return level;
}

function boolean(text: string): boolean {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  throw new Problem(`expected true or false, got "${text}"`);
}

/** Whole seconds as ms, within what a Node timer can wait (2^31 - 1 ms; a longer one fires at once). */
function seconds(text: string): number {
  const value = integer(text, 0);
  if (value > MAX_TIMER_SECONDS) throw new Problem(`expected at most ${MAX_TIMER_SECONDS} seconds, got "${text}"`);
  return value * 1000;
}

const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function integer(text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    throw new Problem(`expected ${min === 0 ? 'a whole number of 0 or more' : 'a positive integer'}, got "${text}"`);
  }
  return n;
}

function listenAddress(text: string): string {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new Problem(`a unix socket needs an absolute path, got "${text}"`);
    return `unix:${path}`;
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535) throw new Problem(`expected host:port, [v6]:port or unix:/path, got "${text}"`);
  return text;
}

/** The known name nearest to a misspelt one, if it is near enough to be the likely intent. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export const USAGE = 'Usage: keyswitch [--config PATH] [--help] [--version]';

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  ${s.name.padEnd(34)} ${s.meaning}\n  ${''.padEnd(34)} default: ${s.fallback}`);
  return [
    'keyswitch: Envoy ext_proc sidecar that picks an LLM account per upstream attempt',
    'and fails over on 429/529 (Envoy >= 1.37, upstream ext_proc filter).',
    '',
    USAGE,
    '',
    'Settings (environment):',
    ...rows,
    '',
    'Exit status: 0 after a clean stop, 2 for a bad argument, setting or config or an address',
    'that cannot be bound, 1 for anything else.',
  ].join('\n');
}
