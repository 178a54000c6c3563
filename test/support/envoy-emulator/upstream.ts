/**
 * Sends one attempt to the scripted upstream over a real socket (what the upstream codec filter
 * and connection pool do in Envoy) and classifies failures the way the router's retry logic needs
 * them: connect failure, reset before the request was sent, or reset afterwards.
 */
import * as http from 'node:http';
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
  let requestSent = false;
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
      const reason: ResetReason = !connected ? 'connect-failure' : !requestSent ? 'reset-before-request' : 'reset';
      resolve({ kind: 'reset', reason, message: error.message });
    });
  });
  request.end(body, () => { requestSent = true; });
  return { result, abort: () => request.destroy() };
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
