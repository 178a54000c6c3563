/**
 * What the emulator records per downstream request, for tests to assert Envoy-level behaviour:
 * every attempt with its ext_proc exchange, the headers sent upstream, the upstream status, the
 * status after the filters, and the retry decision. Also the Envoy-style counters.
 */
import type { HeaderEntry } from './header-map';
import type { JsonValue, MessageKind, PbProcessingRequest, PbProcessingResponse } from './wire';

/** How an attempt's ext_proc stream ended, from the emulator's side. */
export type ExtProcStreamEnd =
  | 'open' // still open (e.g. waiting for the server to finish after a half close)
  | 'half-closed' // emulator sent END_STREAM only
  | 'half-closed-then-cancelled' // client_impl.cc ExternalProcessorStreamImpl::close: closeStream + resetStream
  | 'cancelled' // emulator sent RST_STREAM only
  | 'server-closed' // the server finished the call (status OK)
  | 'server-error'; // the server finished the call with a non-OK status

/** The ext_proc outcome of one attempt. */
export type ExtProcOutcome =
  | 'ok'
  | 'message-timeout' // ext_proc.cc Filter::onMessageTimeout
  | 'grpc-error' // ext_proc.cc Filter::onGrpcError
  | 'server-closed-early' // onGrpcCloseWithStatus: processing continues without the processor
  | 'spurious-message' // onReceiveMessage: out of order / unexpected message
  | 'mutation-error' // mutation_utils.cc returned InvalidArgument
  | 'immediate-response'; // the server answered with an ImmediateResponse

export interface ExtProcMessage<T> {
  kind: string;
  message: T;
}

export interface ExtProcTrace {
  /** Every ProcessingRequest the emulator sent on this attempt's stream, in order. */
  sent: Array<ExtProcMessage<PbProcessingRequest>>;
  /** Every ProcessingResponse received on it (including spurious ones), in order. */
  received: Array<ExtProcMessage<PbProcessingResponse>>;
  outcome: ExtProcOutcome;
  /** Mutations Envoy ignored (rejected_header_mutations). */
  rejectedMutations: string[];
  /** Dynamic metadata namespaces the server wrote that receiving_namespaces dropped. */
  droppedMetadataNamespaces: string[];
  end: ExtProcStreamEnd;
  /** gRPC status the call finished with as seen by the emulator, if it finished. */
  grpcStatus: { code: number; details: string } | undefined;
  /** Free-form notes in order (e.g. "half-close after response_headers"). */
  events: string[];
}

export interface AttemptTrace {
  /** 1-based, = x-envoy-attempt-count. */
  attempt: number;
  /** undefined when the cluster has no upstream ext_proc filter. */
  extProc: ExtProcTrace | undefined;
  /** Request headers as sent upstream (pseudo headers included), after the filters. */
  upstreamRequestHeaders: HeaderEntry[] | undefined;
  upstreamRequestBody: Buffer | undefined;
  /** Status the upstream answered, before the filters. */
  upstreamStatus: number | undefined;
  /** Response headers after the filters (what the retry decision reads). */
  filteredResponseHeaders: HeaderEntry[] | undefined;
  /** Upstream connection problem instead of a response. */
  reset: string | undefined;
  retry: { decision: 'retry' | 'no-retry' | 'not-evaluated'; reason: string; backOffMs?: number };
}

export interface RequestTrace {
  requestId: string;
  method: string;
  /** :path as the client sent it. */
  path: string;
  route: string | undefined;
  cluster: string | undefined;
  attempts: AttemptTrace[];
  /** Dynamic metadata on the request after the last attempt (namespace → JSON). */
  dynamicMetadata: Record<string, { [key: string]: JsonValue }>;
  final:
    | { status: number; source: 'upstream' | 'local-reply'; details: string; headers: HeaderEntry[] }
    | undefined;
}

/** Envoy-style counters the emulator bumps (names follow Envoy's stats where one exists). */
export type StatName =
  | 'upstream_rq_retry'
  | 'upstream_rq_retry_limit_exceeded'
  | 'upstream_rq_retry_overflow'
  | 'retry_or_shadow_abandoned'
  | 'ext_proc.rejected_header_mutations'
  | 'ext_proc.spurious_msgs_received'
  | 'ext_proc.message_timeouts'
  | 'ext_proc.streams_failed'
  | 'ext_proc.streams_closed'
  | 'ext_proc.streams_started'
  | 'ext_proc.failure_mode_allowed'
  | 'ext_proc.immediate_responses';

export class Stats {
  readonly counters = new Map<StatName, number>();
  inc(name: StatName, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }
  get(name: StatName): number {
    return this.counters.get(name) ?? 0;
  }
}

export function newExtProcTrace(): ExtProcTrace {
  return { sent: [], received: [], outcome: 'ok', rejectedMutations: [], droppedMetadataNamespaces: [], end: 'open', grpcStatus: undefined, events: [] };
}

export type { MessageKind };
