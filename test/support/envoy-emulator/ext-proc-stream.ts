/**
 * One ext_proc Process stream, as Envoy's gRPC client drives it
 * (source/extensions/filters/http/ext_proc/client_impl.cc): opened lazily on the first message
 * (ext_proc.cc Filter::openStream), one outstanding message at a time with a message_timeout
 * timer, and closed by the filter. Messages that arrive when nothing is outstanding, and errors
 * that end the call between messages, are handed to `onUnsolicited` so the filter can apply
 * Envoy's rules to them.
 */
import * as grpc from '@grpc/grpc-js';
import type { LiveCalls } from './env';
import type { ExtProcTrace } from './trace';
import { type PbProcessingRequest, type PbProcessingResponse, responseCase } from './wire';

/**
 * How the emulator ends a stream it no longer needs.
 * 'half-close-then-cancel': END_STREAM then RST_STREAM at once, what Envoy's
 *   ExternalProcessorStreamImpl::close does (closeStream(); resetStream()).
 * 'half-close': END_STREAM only, then wait for the server to finish the call.
 * 'cancel': RST_STREAM only.
 */
export type StreamCloseMode = 'half-close-then-cancel' | 'half-close' | 'cancel';

export type ExchangeResult =
  | { kind: 'response'; response: PbProcessingResponse }
  | { kind: 'timeout' }
  | { kind: 'grpc-error'; code: number; details: string }
  | { kind: 'server-closed' }
  // The filter was destroyed (e.g. the upstream attempt failed) while the message was outstanding;
  // a late reply is never processed (ext_proc.cc onReceiveMessage after processing_complete_).
  | { kind: 'abandoned' };

export type Unsolicited =
  | { kind: 'message'; response: PbProcessingResponse }
  | { kind: 'grpc-error'; code: number; details: string }
  | { kind: 'server-closed' };

type ProcessCall = grpc.ClientDuplexStream<PbProcessingRequest, PbProcessingResponse>;

export class ExtProcStream {
  private call: ProcessCall | undefined;
  private pending: ((result: ExchangeResult) => void) | undefined;
  private finished = false;
  private closedLocally = false;
  onUnsolicited: (event: Unsolicited) => void = () => {};

  constructor(
    private readonly client: grpc.Client & { Process(): ProcessCall },
    private readonly trace: ExtProcTrace,
    private readonly onStarted: () => void,
    /** Calls still running, so the emulator can cancel them on stop() and tests can await idle. */
    private readonly live: LiveCalls,
  ) {}

  get isOpen(): boolean {
    return this.call !== undefined && !this.finished && !this.closedLocally;
  }

  /** Send one ProcessingRequest and wait for the next message, an end of call, or the timeout. */
  exchange(kind: string, request: PbProcessingRequest, timeoutMs: number): Promise<ExchangeResult> {
    const call = this.open();
    return new Promise<ExchangeResult>((resolve) => {
      if (this.finished) {
        resolve(this.endResult());
        return;
      }
      const timer = setTimeout(() => settle({ kind: 'timeout' }), timeoutMs);
      const settle = (result: ExchangeResult): void => {
        clearTimeout(timer);
        if (this.pending === settle) this.pending = undefined;
        resolve(result);
      };
      this.pending = settle;
      this.trace.sent.push({ kind, message: request });
      call.write(request);
    });
  }

  /** End the stream from the emulator's side (no-op when already ended). */
  close(mode: StreamCloseMode, why: string): void {
    if (this.call === undefined || this.finished || this.closedLocally) return;
    this.closedLocally = true;
    this.trace.events.push(`${mode} (${why})`);
    this.pending?.({ kind: 'abandoned' });
    if (mode === 'half-close' || mode === 'half-close-then-cancel') this.call.end();
    if (mode === 'cancel' || mode === 'half-close-then-cancel') this.call.cancel();
    this.trace.end = mode === 'half-close' ? 'half-closed' : mode === 'cancel' ? 'cancelled' : 'half-closed-then-cancelled';
  }

  private lastStatus: grpc.StatusObject | undefined;

  private endResult(): ExchangeResult {
    const status = this.lastStatus;
    if (status === undefined || status.code === grpc.status.OK) return { kind: 'server-closed' };
    return { kind: 'grpc-error', code: status.code, details: status.details };
  }

  private open(): ProcessCall {
    if (this.call !== undefined) return this.call;
    const call = this.client.Process();
    this.call = call;
    this.live.add(call);
    this.onStarted();
    call.on('data', (response: PbProcessingResponse) => {
      this.trace.received.push({ kind: responseCase(response) ?? 'unknown', message: response });
      if (this.closedLocally) return; // Envoy no longer listens once it closed the stream.
      const pending = this.pending;
      if (pending !== undefined) pending({ kind: 'response', response });
      else this.onUnsolicited({ kind: 'message', response });
    });
    // grpc-js reports a non-OK end both as 'error' and 'status'; 'status' is the one source used.
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => {
      this.finished = true;
      this.lastStatus = status;
      this.trace.grpcStatus = { code: status.code, details: status.details };
      this.live.delete(call);
      // After our own close, `end` keeps saying how WE ended it; grpcStatus tells how the server
      // finished (our own cancel shows up as CANCELLED).
      if (this.closedLocally) return;
      this.trace.end = status.code === grpc.status.OK ? 'server-closed' : 'server-error';
      const result = this.endResult();
      const pending = this.pending;
      if (pending !== undefined) pending(result);
      else this.onUnsolicited(result.kind === 'grpc-error' ? result : { kind: 'server-closed' });
    });
    return call;
  }
}
