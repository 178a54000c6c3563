import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Metrics, MessageKind } from '../ops/metrics';
import type { Attempt, AttemptProcessor } from './attempt';
import { StreamError, protocolViolation } from './errors';
import type { ProcessingRequest, ProcessingResponse } from './messages';

export type ProcessStream = ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

/** The messages keyswitch decides on; the others get a constant reply. */
const TIMED = new Set<string | undefined>(['request_headers', 'response_headers', 'response_body']);

/**
 * One Process stream is one upstream attempt (Envoy builds a new upstream filter chain, and so
 * a new ext_proc stream, per attempt: router.cc Filter::doRetry, upstream_request.cc).
 *
 * Every message gets exactly one reply, in order, except in observability mode where Envoy
 * ignores replies. Envoy may half-close or cancel at any moment (after a retry decision, or
 * its >= 1.37 early close): that only frees the attempt. A protocol violation ends this stream
 * with a gRPC status and touches nothing else.
 */
export function handleProcessStream(call: ProcessStream, processor: AttemptProcessor, logger: Logger, metrics: Metrics): void {
  let attempt: Attempt | undefined;
  let sawResponseHeaders = false;
  let closed = false;

  const finish = (): void => {
    if (attempt) processor.finish(attempt);
  };
  const fail = (error: unknown): void => {
    if (closed) return;
    closed = true;
    finish();
    if (error instanceof StreamError) {
      if (error.code === status.INVALID_ARGUMENT) metrics.protocolViolation();
      logger.warn({ code: status[error.code], account: attempt?.accountId }, error.message);
      call.emit('error', { code: error.code, details: error.message });
    } else {
      logger.error({ err: error }, 'bug: unexpected error while processing a stream');
      call.emit('error', { code: status.INTERNAL, details: 'internal error' });
    }
  };

  /** The attempt this stream began; a message that needs one before request_headers is a violation. */
  const requireAttempt = (kind: string): Attempt => {
    if (attempt) return attempt;
    throw protocolViolation(`${kind} arrived before request_headers (keyswitch needs request_header_mode SEND)`);
  };

  const reply = (message: ProcessingRequest): ProcessingResponse | undefined => {
    if (message.observability_mode) return undefined;
    switch (message.request) {
      case 'request_headers': {
        if (attempt) throw protocolViolation('request_headers arrived twice on one stream');
        const started = processor.begin(message, message.request_headers?.headers);
        attempt = started.attempt;
        return started.response;
      }
      case 'response_headers': {
        const current = requireAttempt('response_headers');
        if (sawResponseHeaders) throw protocolViolation('response_headers arrived twice on one stream');
        sawResponseHeaders = true;
        return processor.respond(current, message.response_headers?.headers);
      }
      case 'request_body':
        requireAttempt('request_body');
        return { request_body: { response: {} } };
      case 'response_body': {
        const body = message.response_body;
        return attempt
          ? processor.respondToBody(attempt, body?.body ?? Buffer.alloc(0), body?.end_of_stream === true)
          : { response_body: { response: {} } };
      }
      case 'request_trailers':
        requireAttempt('request_trailers');
        return { request_trailers: {} };
      case 'response_trailers':
        return { response_trailers: {} };
      default:
        throw protocolViolation('the message carries no request');
    }
  };

  call.on('data', (message: ProcessingRequest) => {
    if (closed) return;
    try {
      const started = performance.now();
      const response = reply(message);
      if (response) {
        call.write(response);
        if (TIMED.has(message.request)) metrics.decided(message.request as MessageKind, (performance.now() - started) / 1000);
      }
    } catch (error) {
      fail(error);
    }
  });
  call.on('end', () => {
    if (closed) return;
    closed = true;
    finish();
    call.end();
  });
  call.on('cancelled', () => {
    closed = true;
    finish();
  });
  call.on('error', (error) => {
    logger.debug({ err: error }, 'stream error');
    closed = true;
    finish();
  });
}
