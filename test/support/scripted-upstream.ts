/**
 * A scripted LLM provider for tests: a real HTTP server on 127.0.0.1 (port 0) that answers by
 * credential and records every call, so a test can assert which account's credential reached the
 * provider on each attempt.
 *
 *   const upstream = await startScriptedUpstream({
 *     credentialHeaders: ['authorization', 'x-api-key'],
 *     script: {
 *       'Bearer key-a': { status: 429, headers: { 'retry-after': '30' }, body: { error: 'rate' } },
 *       'key-b': [{ status: 529 }, { status: 200 }],   // answered in order, the last one repeats
 *     },
 *   });
 *   upstream.calls.map((c) => c.credential)   // ['Bearer key-a', 'Bearer key-b', ...]
 *
 * A credential is the value of the first configured credential header present; a script key
 * matches it exactly, or without a leading "Bearer ". Unknown credentials (and calls without one)
 * get `defaultAnswer`, by default 200 with a small JSON body.
 *
 * Directives on an answer: `chunks` + `chunkDelayMs` send the body in pieces (a slow or large error
 * body); `reset: 'before-response'` destroys the connection after reading the request, without
 * answering (for Envoy a reset after the request started: not a connect failure).
 */
import * as http from 'node:http';
import { listenOnLoopback } from './listen';

export interface UpstreamCall {
  /** 1-based order of arrival. */
  seq: number;
  credential: string | undefined;
  method: string;
  path: string;
  /** Lower-case names; repeated headers joined with ", " (node's view). */
  headers: Record<string, string>;
  /** Raw header pairs in arrival order, names as sent. */
  rawHeaders: Array<[string, string]>;
  body: Buffer;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** A string/Buffer is sent as is; anything else as JSON (content-type application/json). */
  body?: string | Buffer | object;
  /** Send the body as these pieces (content-length is their total; `body` is ignored). */
  chunks?: Array<string | Buffer>;
  /** Pause between two chunks, in ms (default 20, so each arrives in its own read). */
  chunkDelayMs?: number;
  /** Destroy the connection after reading the request instead of answering (status is ignored). */
  reset?: 'before-response';
}

export type AnswerFn = (call: UpstreamCall) => ScriptedAnswer | Promise<ScriptedAnswer>;
export type ScriptEntry = ScriptedAnswer | ScriptedAnswer[] | AnswerFn;

export interface ScriptedUpstreamOptions {
  /** Headers that carry the credential, checked in order. Default ['authorization', 'x-api-key']. */
  credentialHeaders?: string[];
  script?: Record<string, ScriptEntry>;
  defaultAnswer?: ScriptedAnswer | AnswerFn;
}

export interface ScriptedUpstream {
  readonly url: string;
  readonly port: number;
  readonly calls: UpstreamCall[];
  /** Calls that carried `credential` (same matching as the script). */
  callsFor(credential: string): UpstreamCall[];
  /** Replace (or add) the answer for one credential. */
  setAnswer(credential: string, entry: ScriptEntry): void;
  /** Replace the answer for credentials the script does not name. */
  defaultAnswerIs(answer: ScriptedAnswer | AnswerFn): void;
  stop(): Promise<void>;
}

const DEFAULT_ANSWER: ScriptedAnswer = { status: 200, body: { id: 'scripted-response', object: 'chat.completion' } };

function matches(key: string, credential: string | undefined): boolean {
  if (credential === undefined) return false;
  return key === credential || (credential.startsWith('Bearer ') && key === credential.slice('Bearer '.length));
}

export async function startScriptedUpstream(options: ScriptedUpstreamOptions = {}): Promise<ScriptedUpstream> {
  const credentialHeaders = (options.credentialHeaders ?? ['authorization', 'x-api-key']).map((h) => h.toLowerCase());
  const script = new Map<string, ScriptEntry>(Object.entries(options.script ?? {}));
  const served = new Map<string, number>(); // per script key: answers already given from a list
  const calls: UpstreamCall[] = [];
  let defaultAnswer = options.defaultAnswer ?? DEFAULT_ANSWER;

  const answerFor = async (call: UpstreamCall): Promise<ScriptedAnswer> => {
    const key = [...script.keys()].find((k) => matches(k, call.credential));
    const entry = key === undefined ? defaultAnswer : script.get(key);
    if (entry === undefined) return DEFAULT_ANSWER;
    if (typeof entry === 'function') return entry(call);
    if (!Array.isArray(entry)) return entry;
    const index = served.get(key ?? '') ?? 0;
    served.set(key ?? '', index + 1);
    return entry[Math.min(index, entry.length - 1)] ?? DEFAULT_ANSWER;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawHeaders: Array<[string, string]> = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '']);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const header = credentialHeaders.find((h) => headers[h] !== undefined);
      const call: UpstreamCall = {
        seq: calls.length + 1,
        credential: header === undefined ? undefined : headers[header],
        method: req.method ?? '',
        path: req.url ?? '',
        headers,
        rawHeaders,
        body: Buffer.concat(chunks),
      };
      calls.push(call);
      void answerFor(call).then(async (answer) => {
        if (answer.reset === 'before-response') {
          req.socket.destroy();
          return;
        }
        const isRaw = typeof answer.body === 'string' || Buffer.isBuffer(answer.body);
        const body = answer.body === undefined ? Buffer.alloc(0)
          : isRaw ? Buffer.from(answer.body as string | Buffer) : Buffer.from(JSON.stringify(answer.body));
        const chunks = answer.chunks?.map((c) => Buffer.from(c)) ?? [body];
        const length = chunks.reduce((n, c) => n + c.length, 0);
        const outHeaders: Record<string, string> = { 'content-length': String(length), ...(answer.headers ?? {}) };
        if (answer.chunks === undefined && !isRaw && answer.body !== undefined && outHeaders['content-type'] === undefined) {
          outHeaders['content-type'] = 'application/json';
        }
        res.writeHead(answer.status, outHeaders);
        for (const [i, chunk] of chunks.entries()) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, answer.chunkDelayMs ?? 20));
          if (res.destroyed) return;
          res.write(chunk);
        }
        res.end();
      }, (error: Error) => {
        res.writeHead(599, { 'content-type': 'text/plain' });
        res.end(`scripted upstream answer failed: ${error.message}`);
      });
    });
  });
  const { url, port } = await listenOnLoopback(server);
  return {
    url,
    port,
    calls,
    callsFor: (credential) => calls.filter((c) => matches(credential, c.credential)),
    setAnswer: (credential, entry) => {
      script.set(credential, entry);
      served.delete(credential);
    },
    defaultAnswerIs: (answer) => {
      defaultAnswer = answer;
    },
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
