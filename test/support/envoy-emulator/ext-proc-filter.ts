/**
 * The upstream ext_proc filter for ONE attempt (source/extensions/filters/http/ext_proc/ext_proc.cc
 * Filter): a fresh instance, and so a fresh Process stream, per attempt, because the router builds
 * a new upstream filter chain for every UpstreamRequest (router.cc Filter::doRetry,
 * upstream_request.cc UpstreamRequest constructor).
 *
 * Per message: request_attributes / response_attributes on the first message of each direction
 * under attributes["envoy.filters.http.ext_proc"] (Filter::addAttributes); metadata_context with
 * the forwarding namespaces of the request's dynamic metadata (Filter::addDynamicMetadata);
 * received dynamic_metadata kept only for receiving namespaces (Filter::setDynamicMetadata).
 * mode_override on headers replies: mode-override.ts. Body messages and what their replies may
 * change: BodyCallback below.
 * Errors: timeout → 504, gRPC error / spurious message → status_on_error (500), both as local
 * replies unless failure_mode_allow; a failed mutation (invalid header, disallow_is_error,
 * content-length mismatch) → status_on_error whatever failure_mode_allow says
 * (onReceiveMessage → Filter::handleErrorResponse); a clean server close → carry on without the
 * processor.
 */
import { type ExtProcFilterConfig, parseProcessingModeProto, type ProcessingMode, resolveProcessingMode } from './ext-proc-config';
import type { ExchangeResult, ExtProcStream, StreamCloseMode, Unsolicited } from './ext-proc-stream';
import { HeaderMap } from './header-map';
import { effectiveModeOverride, overrideAllowed } from './mode-override';
import { applyHeaderMutation, type ValueOnlyMutation } from './mutation';
import type { ExtProcTrace, Stats } from './trace';
import { ATTRIBUTES_KEY, type MessageKind, type PbCommonResponse, type PbImmediateResponse,
  type PbProcessingRequest, type PbProcessingResponse, type PbStruct, type PbValue, responseCase } from './wire';

/** A reply Envoy generates itself instead of forwarding an upstream response. */
export interface LocalReply {
  status: number;
  headers: HeaderMap;
  body: Buffer;
  /** Envoy's response code details, e.g. ext_proc_error_per-message_timeout_exceeded. */
  details: string;
}

export type FilterStatus = { kind: 'continue' } | { kind: 'local-reply'; reply: LocalReply };

/**
 * Which processor_state.cc callback state a body message is sent in, which decides what its reply
 * may do: BufferedBodyCallback applies header mutations to the held headers and checks a body
 * mutation against content-length; BufferedPartialBodyCallback applies header mutations only;
 * StreamedBodyCallback ignores them (the headers already went on).
 */
export type BodyCallback = 'buffered' | 'partial' | 'streamed';

export interface FilterOptions {
  closeWhenDone: boolean;
  closeMode: StreamCloseMode;
  valueOnly: ValueOnlyMutation;
  /** Evaluates request_attributes/response_attributes; unknown names are left out. */
  attributes: (names: string[]) => Record<string, PbValue>;
  /** The downstream request's dynamic metadata, shared by every attempt (namespace → Struct). */
  dynamicMetadata: Map<string, PbStruct>;
  /** ImmediateResponse status names (envoy.type.v3.StatusCode) → numbers. */
  statusCodes: Record<string, number>;
}

const CONTINUE: FilterStatus = { kind: 'continue' };

export function localReply(status: number, details: string, body = ''): LocalReply {
  return { status, headers: new HeaderMap(), body: Buffer.from(body), details };
}

export class UpstreamExtProcFilter {
  private mode: ProcessingMode;
  private processingComplete = false;
  private sentRequestAttributes = false;
  private sentResponseAttributes = false;
  private responseBodySent = false;
  private failure: ((status: FilterStatus) => void) | undefined;
  /** Resolves with a local reply if the stream fails while no message is outstanding. */
  readonly asyncFailure: Promise<FilterStatus>;

  constructor(
    private readonly config: ExtProcFilterConfig,
    private readonly stream: ExtProcStream,
    readonly trace: ExtProcTrace,
    private readonly stats: Stats,
    private readonly options: FilterOptions,
  ) {
    this.mode = { ...config.processingMode };
    this.asyncFailure = new Promise((resolve) => { this.failure = resolve; });
    stream.onUnsolicited = (event) => this.onUnsolicited(event);
  }

  /** request_headers; `body` is this attempt's copy, replaced by CONTINUE_AND_REPLACE. */
  async decodeHeaders(headers: HeaderMap, endOfStream: boolean, body: { data: Buffer }): Promise<FilterStatus> {
    if (this.processingComplete || this.mode.requestHeaderMode === 'SKIP') return CONTINUE;
    const request = this.message('request_headers', { headers: headers.toProto(), end_of_stream: endOfStream });
    const status = await this.handle('request_headers', request, headers, body);
    this.closeIfDone('request_headers', endOfStream);
    return status;
  }

  /**
   * request_body, the whole body in one message. The router has the complete body before the
   * request_headers reply arrives (it buffers it for retries), which processor_state.cc
   * handleHeadersResponse sends as one message in BufferedBodyCallback state whatever the mode.
   */
  async decodeBody(headers: HeaderMap, body: { data: Buffer }): Promise<FilterStatus> {
    if (this.processingComplete || this.mode.requestBodyMode === 'NONE' || body.data.length === 0) return CONTINUE;
    const request = this.message('request_body', { body: body.data, end_of_stream: true });
    const status = await this.handle('request_body', request, headers, body, 'buffered');
    this.closeIfDone('request_body', true);
    return status;
  }

  async encodeHeaders(headers: HeaderMap, endOfStream: boolean): Promise<FilterStatus> {
    if (this.processingComplete || this.mode.responseHeaderMode === 'SKIP') return CONTINUE;
    const request = this.message('response_headers', { headers: headers.toProto(), end_of_stream: endOfStream });
    const status = await this.handle('response_headers', request, headers, { data: Buffer.alloc(0) });
    this.closeIfDone('response_headers', endOfStream);
    return status;
  }

  /** The one response_body message of this attempt; `endOfStream` false = a BUFFERED_PARTIAL prefix. */
  async encodeBody(headers: HeaderMap, body: { data: Buffer }, endOfStream: boolean, callback: BodyCallback): Promise<FilterStatus> {
    this.responseBodySent = true;
    const request = this.message('response_body', { body: body.data, end_of_stream: endOfStream });
    const status = await this.handle('response_body', request, headers, body, callback);
    this.closeIfDone('response_body', endOfStream);
    return status;
  }

  /**
   * BUFFERED / BUFFERED_PARTIAL response body mode right after the response_headers reply: the
   * filter keeps the headers (processor_state.cc handleHeadersResponse returns without
   * continuing), so the router sees them only after the response_body reply.
   */
  holdsResponseHeaders(): 'BUFFERED' | 'BUFFERED_PARTIAL' | undefined {
    const mode = this.mode.responseBodyMode;
    if (this.processingComplete || this.responseBodySent) return undefined;
    return mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL' ? mode : undefined;
  }

  /** Whether the final response body must be read for a (STREAMED) response_body message. */
  wantsResponseBody(): boolean {
    return !this.processingComplete && !this.responseBodySent && this.mode.responseBodyMode !== 'NONE';
  }

  /** Filter::onDestroy: the attempt is over (retried, answered, or failed). */
  onDestroy(why: string): void {
    this.processingComplete = true;
    this.stream.close(this.options.closeMode, why);
  }

  private message(kind: MessageKind, payload: object): PbProcessingRequest {
    const request = { [kind]: payload } as PbProcessingRequest;
    const responseSide = kind.startsWith('response');
    const names = responseSide ? this.config.responseAttributes : this.config.requestAttributes;
    const alreadySent = responseSide ? this.sentResponseAttributes : this.sentRequestAttributes;
    if (names.length > 0 && !alreadySent) {
      request.attributes = { [ATTRIBUTES_KEY]: { fields: this.options.attributes(names) } };
      if (responseSide) this.sentResponseAttributes = true;
      else this.sentRequestAttributes = true;
    }
    if (this.config.forwardingNamespaces.length > 0) {
      const filterMetadata: Record<string, PbStruct> = {};
      for (const ns of this.config.forwardingNamespaces) {
        const struct = this.options.dynamicMetadata.get(ns);
        if (struct !== undefined) filterMetadata[ns] = struct;
      }
      request.metadata_context = { filter_metadata: filterMetadata };
    }
    return request;
  }

  private async handle(kind: MessageKind, request: PbProcessingRequest, headers: HeaderMap, body: { data: Buffer },
    callback?: BodyCallback): Promise<FilterStatus> {
    const result: ExchangeResult = await this.stream.exchange(kind, request, this.config.messageTimeoutMs);
    if (result.kind === 'abandoned') return CONTINUE;
    if (result.kind !== 'response') return this.onStreamProblem(result);
    const response = result.response;
    const got = responseCase(response);
    if (kind.endsWith('_headers')) this.overrideMode(response);
    if (got === 'immediate_response' && !this.config.disableImmediateResponse) {
      this.setDynamicMetadata(response);
      return this.immediateResponse(response.immediate_response ?? {});
    }
    // onReceiveMessage stores dynamic_metadata for every reply case before handling it, so even
    // a reply of the wrong kind (spurious) leaves its metadata behind.
    if (got !== undefined && got !== 'immediate_response') this.setDynamicMetadata(response);
    if (got !== kind) return this.spurious(`expected ${kind}, got ${got ?? 'nothing'}`);
    const common: PbCommonResponse = (response[kind] ?? {}).response ?? {};
    if (callback !== 'streamed') {
      const outcome = applyHeaderMutation(common.header_mutation, headers, this.config.mutationRules, this.options.valueOnly);
      this.trace.rejectedMutations.push(...outcome.rejected);
      this.stats.inc('ext_proc.rejected_header_mutations', outcome.rejected.length);
      if (outcome.error !== undefined) return this.errorResponse(outcome.error);
    }
    const replace = common.status === 'CONTINUE_AND_REPLACE' || common.status === 1;
    if (common.body_mutation !== undefined && (replace || kind.endsWith('_body'))) {
      if (callback === 'buffered' && contentLengthMismatch(headers, common.body_mutation.body)) {
        return this.errorResponse('mismatch between content length and the length of the mutated body');
      }
      if (common.body_mutation.clear_body === true) body.data = Buffer.alloc(0);
      else if (common.body_mutation.body !== undefined) body.data = Buffer.from(common.body_mutation.body);
    }
    if (replace && kind.endsWith('_headers')) {
      // CONTINUE_AND_REPLACE on headers: the body is not sent to the processor afterwards.
      if (kind === 'request_headers') this.mode.requestBodyMode = 'NONE';
      else this.mode.responseBodyMode = 'NONE';
    }
    return CONTINUE;
  }

  /** mode_override on a headers reply (see mode-override.ts for the rules). */
  private overrideMode(response: PbProcessingResponse): void {
    if (response.mode_override === undefined || response.mode_override === null || !this.config.allowModeOverride) return;
    const effective = effectiveModeOverride(parseProcessingModeProto(response.mode_override, 'mode_override'), this.config.processingModeProto);
    if (!overrideAllowed(effective, this.config.allowedOverrideModes)) {
      this.trace.events.push('mode_override disallowed by allowed_override_modes');
      return;
    }
    this.mode = resolveProcessingMode(effective);
    this.trace.events.push(`mode_override applied (response_body_mode ${effective.response_body_mode})`);
  }

  /** Filter::setDynamicMetadata: top-level keys are namespaces; only receiving ones are kept. */
  private setDynamicMetadata(response: PbProcessingResponse): void {
    for (const [ns, value] of Object.entries(response.dynamic_metadata?.fields ?? {})) {
      if (!this.config.receivingNamespaces.includes(ns)) {
        this.trace.droppedMetadataNamespaces.push(ns);
        continue;
      }
      // StreamInfo::setDynamicMetadata merges into the namespace (MergeFrom: same keys replaced).
      const existing = this.options.dynamicMetadata.get(ns)?.fields ?? {};
      this.options.dynamicMetadata.set(ns, { fields: { ...existing, ...(value.structValue?.fields ?? {}) } });
    }
  }

  private immediateResponse(immediate: PbImmediateResponse): FilterStatus {
    this.stats.inc('ext_proc.immediate_responses');
    this.processingComplete = true;
    this.trace.outcome = 'immediate-response';
    this.stream.close(this.options.closeMode, 'immediate_response');
    const code = immediate.status?.code;
    let status = typeof code === 'number' ? code : this.options.statusCodes[code ?? ''] ?? Number(code);
    // Filter::sendImmediateResponse: an invalid status (MutationUtils::isValidHttpStatus, < 200)
    // falls back to the default.
    if (!Number.isInteger(status) || status < 200) status = 200;
    const reply = localReply(status, immediate.details ?? '');
    reply.body = immediate.body === undefined ? Buffer.alloc(0) : Buffer.from(immediate.body as Uint8Array);
    // Header mutations on a local reply: failures are only logged.
    const outcome = applyHeaderMutation(immediate.headers, reply.headers, this.config.mutationRules, this.options.valueOnly);
    this.trace.rejectedMutations.push(...outcome.rejected);
    return { kind: 'local-reply', reply };
  }

  private spurious(note: string): FilterStatus {
    this.stats.inc('ext_proc.spurious_msgs_received');
    this.trace.events.push(`spurious message: ${note}`);
    // ext_proc.cc onReceiveMessage: fail open only with failure_mode_allow (or the
    // ext_proc_fail_close_spurious_resp runtime guard off); otherwise an error reply.
    return this.fail('spurious-message', this.config.statusOnError, 'ext_proc_error_spurious_message');
  }

  private onStreamProblem(result: Exclude<ExchangeResult, { kind: 'response' }>): FilterStatus {
    if (result.kind === 'timeout') {
      this.stats.inc('ext_proc.message_timeouts');
      // Filter::onMessageTimeout: 504 regardless of status_on_error.
      return this.fail('message-timeout', 504, 'ext_proc_error_per-message_timeout_exceeded');
    }
    if (result.kind === 'grpc-error') {
      this.stats.inc('ext_proc.streams_failed');
      return this.fail('grpc-error', this.config.statusOnError, `ext_proc_error_gRPC_error_${result.code}{${result.details}}`);
    }
    // Filter::onGrpcCloseWithStatus: a clean close means "continue without the processor".
    this.stats.inc('ext_proc.streams_closed');
    this.processingComplete = true;
    this.trace.outcome = 'server-closed-early';
    return CONTINUE;
  }

  /** Fail closed (local reply) or, with failure_mode_allow, continue without the processor. */
  private fail(outcome: ExtProcTrace['outcome'], status: number, details: string): FilterStatus {
    this.processingComplete = true;
    this.trace.outcome = outcome;
    this.stream.close(this.options.closeMode, outcome);
    if (this.config.failureModeAllow) {
      this.stats.inc('ext_proc.failure_mode_allowed');
      return CONTINUE;
    }
    return { kind: 'local-reply', reply: localReply(status, details) };
  }

  /** Filter::handleErrorResponse: close the stream and reply status_on_error; details = the message. */
  private errorResponse(message: string): FilterStatus {
    this.processingComplete = true;
    this.trace.outcome = 'mutation-error';
    this.stream.close(this.options.closeMode, 'mutation-error');
    return { kind: 'local-reply', reply: localReply(this.config.statusOnError, message.replace(/\s/g, '_')) };
  }

  private onUnsolicited(event: Unsolicited): void {
    if (this.processingComplete) return;
    let status: FilterStatus;
    if (event.kind === 'message') status = this.spurious(`unsolicited ${responseCase(event.response) ?? 'message'}`);
    else status = this.onStreamProblem(event);
    if (status.kind === 'local-reply') this.failure?.(status);
  }

  /**
   * Filter::closeGrpcStreamIfLastRespReceived (runtime ext_proc_stream_close_optimization, Envoy
   * >= 1.37): once no further message can be needed, close the stream right away.
   */
  private closeIfDone(after: MessageKind, endOfStream: boolean): void {
    if (!this.options.closeWhenDone || this.processingComplete || !this.stream.isOpen) return;
    const m = this.mode;
    const encodingNothing = m.responseHeaderMode === 'SKIP' && m.responseBodyMode === 'NONE' && m.responseTrailerMode === 'SKIP';
    let last = false;
    if (after === 'request_headers') last = (endOfStream || (m.requestBodyMode === 'NONE' && m.requestTrailerMode === 'SKIP')) && encodingNothing;
    else if (after === 'response_headers') last = endOfStream || (m.responseBodyMode === 'NONE' && m.responseTrailerMode === 'SKIP');
    // isLastBodyResponse: false after a body sent from the buffer (BUFFERED, BUFFERED_PARTIAL, and
    // the request body, see decodeBody): the close waits for onDestroy. True after the last
    // STREAMED chunk (the emulator sends the response body as one).
    else last = after === 'response_body' && m.responseBodyMode === 'STREAMED' && endOfStream;
    if (last) {
      this.processingComplete = true;
      this.stream.close(this.options.closeMode, `last response (${after})`);
    }
  }
}

/**
 * processor_state.cc validateContentLength: a body mutation in BufferedBodyCallback state must
 * match a numeric content-length header (clear_body counts as an empty body).
 */
function contentLengthMismatch(headers: HeaderMap, body: Buffer | Uint8Array | undefined): boolean {
  const declared = headers.get('content-length');
  return declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== (body?.length ?? 0);
}
