/**
 * A scripted ext_proc server (official Envoy protos) for testing the Envoy emulator without
 * keyswitch. The test supplies a handler per message kind; the server records every stream: the
 * messages, the gRPC metadata, the attributes of the first message, and how the stream ended.
 *
 *   const processor = await startScriptedProcessor({
 *     request_headers: (msg, ctx) => reply({ request_headers: { response: { header_mutation: ... } } }),
 *     response_headers: () => silence(),          // never answer: message_timeout fires
 *   });
 *   startEnvoyEmulator({ extProcAddress: processor.address, ... })
 *
 * Handlers return an action: reply(...responses) (several = extra, spurious messages),
 * silence(), endOk() (finish the call with OK, no reply), fail(code, details). A plain
 * ProcessingResponse is treated as reply(response). Kinds without a handler get CONTINUE.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOfficialExtProcPackage } from './official-protos';
import { ATTRIBUTES_KEY, fromPbStruct, type JsonValue, type PbProcessingRequest, type PbProcessingResponse } from './envoy-emulator/wire';

const ACTION = Symbol('processor-action');

export type ProcessorAction =
  | { [ACTION]: 'reply'; responses: PbProcessingResponse[] }
  | { [ACTION]: 'silence' }
  | { [ACTION]: 'end-ok' }
  | { [ACTION]: 'fail'; code: grpc.status; details: string };

export const reply = (...responses: PbProcessingResponse[]): ProcessorAction => ({ [ACTION]: 'reply', responses });
export const silence = (): ProcessorAction => ({ [ACTION]: 'silence' });
export const endOk = (): ProcessorAction => ({ [ACTION]: 'end-ok' });
export const fail = (code: grpc.status, details: string): ProcessorAction => ({ [ACTION]: 'fail', code, details });

export type MessageKind = 'request_headers' | 'response_headers' | 'request_body' | 'response_body' | 'request_trailers' | 'response_trailers';

export interface ReceivedStream {
  /** 0-based order in which streams were opened. */
  index: number;
  /** gRPC request metadata (e.g. :authority is not here; content-type, user-agent are). */
  metadata: Record<string, string>;
  messages: PbProcessingRequest[];
  /** attributes["envoy.filters.http.ext_proc"] of the first message, as JSON (undefined if absent). */
  attributes: { [key: string]: JsonValue } | undefined;
  /**
   * The client's END_STREAM as grpc-js reports it. A bare RST_STREAM also surfaces as an end of
   * the read side just before 'cancelled' (grpc-js server-interceptors), so a grpc-js server cannot
   * tell "cancel" from "half-close then cancel"; use cancelledByClient and `events`.
   */
  halfClosedByClient: boolean;
  cancelledByClient: boolean;
  /** 'half-close' | 'cancelled' | 'server-end' | 'server-error', in the order seen. */
  events: string[];
  endedByServer: boolean;
  /** Settles when the stream is over (client cancel, or both sides closed). */
  finished: Promise<void>;
}

export interface HandlerContext {
  stream: ReceivedStream;
  /** 0-based index of this message within its stream. */
  messageIndex: number;
}

export type Handler = (message: PbProcessingRequest, ctx: HandlerContext) =>
  ProcessorAction | PbProcessingResponse | Promise<ProcessorAction | PbProcessingResponse>;

export type ProcessorHandlers = Partial<Record<MessageKind, Handler>>;

export interface ScriptedProcessorOptions {
  /** Listen on "unix" (default, a socket in os.tmpdir()) or "tcp" (127.0.0.1:0). */
  transport?: 'unix' | 'tcp';
  /** End the call with OK when the client half-closes (default true, what a well-behaved server does). */
  endOnHalfClose?: boolean;
}

export interface ScriptedProcessor {
  /** "unix:/…/ext_proc.sock" or "127.0.0.1:<port>", ready for startEnvoyEmulator's extProcAddress. */
  readonly address: string;
  readonly streams: ReceivedStream[];
  /** Replace the handlers (e.g. between two requests of one test). */
  setHandlers(handlers: ProcessorHandlers): void;
  /** Resolves once at least `count` streams have finished. */
  waitForFinishedStreams(count: number): Promise<void>;
  stop(): Promise<void>;
}

const KINDS: MessageKind[] = ['request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers'];

function kindOf(message: PbProcessingRequest): MessageKind | undefined {
  if (typeof message.request === 'string') return message.request as MessageKind;
  return KINDS.find((k) => (message as Record<string, unknown>)[k] !== undefined);
}

/** The CONTINUE answer for a message kind. */
export function continueFor(kind: MessageKind): PbProcessingResponse {
  return kind.endsWith('trailers') ? { [kind]: {} } : { [kind]: { response: {} } };
}

function isAction(value: unknown): value is ProcessorAction {
  return typeof value === 'object' && value !== null && ACTION in value;
}

export async function startScriptedProcessor(initial: ProcessorHandlers = {}, options: ScriptedProcessorOptions = {}): Promise<ScriptedProcessor> {
  let handlers = initial;
  const streams: ReceivedStream[] = [];
  const finishedWaiters: Array<{ count: number; resolve: () => void }> = [];
  let finishedCount = 0;
  const onFinished = (): void => {
    finishedCount++;
    for (const waiter of [...finishedWaiters]) {
      if (finishedCount >= waiter.count) {
        finishedWaiters.splice(finishedWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const process = (call: grpc.ServerDuplexStream<PbProcessingRequest, PbProcessingResponse>): void => {
    let resolveFinished: () => void = () => {};
    const stream: ReceivedStream = {
      index: streams.length,
      metadata: Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)])),
      messages: [], attributes: undefined,
      halfClosedByClient: false, cancelledByClient: false, endedByServer: false, events: [],
      finished: new Promise<void>((resolve) => { resolveFinished = resolve; }),
    };
    streams.push(stream);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolveFinished();
      onFinished();
    };
    const end = (status?: { code: grpc.status; details: string }): void => {
      if (stream.endedByServer || stream.cancelledByClient) return;
      stream.endedByServer = true;
      stream.events.push(status === undefined ? 'server-end' : 'server-error');
      if (status === undefined) call.end();
      else call.emit('error', { code: status.code, details: status.details });
      if (stream.halfClosedByClient || status !== undefined) finish();
    };
    // Messages are handled one at a time, in order, like a real server loop.
    let chain = Promise.resolve();
    call.on('data', (message: PbProcessingRequest) => {
      const messageIndex = stream.messages.length;
      stream.messages.push(message);
      if (messageIndex === 0 && message.attributes?.[ATTRIBUTES_KEY] !== undefined) {
        stream.attributes = fromPbStruct(message.attributes[ATTRIBUTES_KEY]);
      }
      chain = chain.then(async () => {
        const kind = kindOf(message);
        if (kind === undefined || stream.endedByServer || stream.cancelledByClient) return;
        const handler = handlers[kind];
        const result = handler === undefined ? continueFor(kind) : await handler(message, { stream, messageIndex });
        if (stream.endedByServer || stream.cancelledByClient) return;
        const action = isAction(result) ? result : reply(result);
        if (action[ACTION] === 'reply') for (const response of action.responses) call.write(response);
        else if (action[ACTION] === 'end-ok') end();
        else if (action[ACTION] === 'fail') end({ code: action.code, details: action.details });
      }).catch(() => end({ code: grpc.status.INTERNAL, details: 'scripted handler threw' }));
    });
    call.on('end', () => {
      stream.halfClosedByClient = true;
      stream.events.push('half-close');
      if (stream.endedByServer) finish();
      else if (options.endOnHalfClose ?? true) void chain.then(() => end());
    });
    call.on('cancelled', () => {
      stream.cancelledByClient = true;
      stream.events.push('cancelled');
      finish();
    });
    call.on('error', () => {});
  };

  const server = new grpc.Server();
  const pkg = loadOfficialExtProcPackage() as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  server.addService(pkg.envoy.service.ext_proc.v3.ExternalProcessor.service, { Process: process });
  let socketDir: string | undefined;
  let bindTarget: string;
  if ((options.transport ?? 'unix') === 'unix') {
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scripted-extproc-'));
    bindTarget = `unix:${path.join(socketDir, 'ext_proc.sock')}`;
  } else {
    bindTarget = '127.0.0.1:0';
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindTarget, grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p)));
  });
  const address = socketDir !== undefined ? bindTarget : `127.0.0.1:${port}`;
  return {
    address,
    streams,
    setHandlers: (next) => { handlers = next; },
    waitForFinishedStreams: (count) => new Promise<void>((resolve) => {
      if (finishedCount >= count) resolve();
      else finishedWaiters.push({ count, resolve });
    }),
    stop: async () => {
      // forceShutdown: streams a test left open (e.g. half-closed ones) must not hold stop().
      server.forceShutdown();
      if (socketDir !== undefined) fs.rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
