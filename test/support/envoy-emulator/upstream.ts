/**
 * Sends one attempt to the scripted upstream over a real socket (what the upstream codec filter
 * and connection pool do in Envoy) and classifies failures the way the router's retry logic needs
 * them: a connect failure (the pool never got a connection: nothing was sent), or a reset after
 * the connection was made. Envoy counts the request as started once the pool handed over a
 * connection and the headers went to the codec (router.cc maybeRetryReset reads
 * first_upstream_tx_byte_sent_), so any reset after connecting is "started", even if the upstream
 * never read the request.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { HeaderMap } from './header-map';
import type { ResetReason } from './retry-policy';

export type UpstreamResult =
  | { kind: 'response'; response: http.IncomingMessage }
  | { kind: 'reset'; reason: ResetReason; message: string };

// Connection-specific headers the HTTP/1 codec never forwards; it frames the body itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

export interface UpstreamCall {
  result: Promise<UpstreamResult>;
  /** Abandon the attempt (Envoy resets the upstream stream). */
  abort(): void;
}

/** Send `headers` (+ body) to `baseUrl`; :path, :method and :authority come from the map. */
export function sendUpstream(baseUrl: string, agent: http.Agent, headers: HeaderMap, body: Buffer): UpstreamCall {
  const target = new URL(baseUrl);
  const outgoing: Record<string, string | string[]> = {};
  for (const [name, value] of headers.entries()) {
    if (name.startsWith(':') || HOP_BY_HOP.has(name) || name === 'content-length' || name === 'host') continue;
    const previous = outgoing[name];
    outgoing[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  outgoing['host'] = headers.get(':authority') ?? target.host;
  const method = headers.get(':method') ?? 'GET';
  if (body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(method)) outgoing['content-length'] = String(body.length);
  let connected = false;
  const request = http.request({
    host: target.hostname,
    port: target.port,
    method,
    path: headers.get(':path') ?? '/',
    headers: outgoing,
    agent,
  });
  const result = new Promise<UpstreamResult>((resolve) => {
    request.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      socket.once('connect', () => { connected = true; });
    });
    request.on('response', (response) => resolve({ kind: 'response', response }));
    request.on('error', (error: Error) => {
      const reason: ResetReason = connected ? 'reset' : 'connect-failure';
      resolve({ kind: 'reset', reason, message: error.message });
    });
  });
  request.end(body);
  return { result, abort: () => request.destroy() };
}

/** A loopback port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A connection pool failure: once `when` (ms from now, or a promise) has come, the emulator dials
 * the closed `port` and reports the refusal as the attempt's connect failure (upstream_request.cc
 * onPoolFailure → onResetStream with a connection failure reason).
 */
export async function refusedConnection(port: number, when: number | Promise<unknown>): Promise<UpstreamResult> {
  await (typeof when === 'number' ? new Promise((resolve) => setTimeout(resolve, when)) : when.catch(() => {}));
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', (error) => resolve({ kind: 'reset', reason: 'connect-failure', message: error.message }));
    socket.once('connect', () => {
      socket.destroy();
      resolve({ kind: 'reset', reason: 'connect-failure', message: `something now listens on 127.0.0.1:${port}; reported as refused` });
    });
  });
}

/** Read a whole response body (bounded by `limit` bytes; beyond that the rest is dropped). */
export function readBody(stream: NodeJS.ReadableStream, limit = 64 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      if (size + chunk.length <= limit) chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
