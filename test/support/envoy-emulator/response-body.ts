/**
 * A response body held inside the upstream filter chain: BUFFERED / BUFFERED_PARTIAL response body
 * modes keep the response headers in the ext_proc filter until the response_body reply, so the
 * router (and its retry decision) sees the headers only afterwards, with that reply's mutations.
 *
 *  - BUFFERED (ext_proc.cc handleDataBufferedMode): the filter manager buffers chunks
 *    (StopIterationAndBuffer) until end of stream, then ONE response_body with end_of_stream true.
 *    Past the buffer limit the filter manager answers 500 "Internal Server Error" with details
 *    response_payload_too_large (filter_manager.cc ActiveStreamEncoderFilter::responseDataTooLarge;
 *    in the upstream chain the local reply goes downstream, upstream_request.cc
 *    UpstreamFilterManager::sendLocalReply), never retried.
 *  - BUFFERED_PARTIAL (handleDataBufferedPartialMode): chunks are queued; at end of stream, or as
 *    soon as the queue is over the limit (processor_state.h queueOverHighLimit: bytes > limit), what
 *    is queued goes out in one response_body (end_of_stream false in the second case). After that
 *    reply the rest of the body passes the filter untouched (partial_body_processed_).
 * The limit is the upstream filter manager's buffer limit: the router's decoderBufferLimit
 * (upstream_request.cc UpstreamRequest constructor), here the listener's
 * per_connection_buffer_limit_bytes. No ext_proc timer runs while the body arrives: message_timeout
 * is armed only when a message is sent (processor_state.cc onStartProcessorCall).
 *
 * The emulator reads each socket read as one data frame and the end of the message separately.
 */
import type * as http from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { type FilterStatus, localReply, type UpstreamExtProcFilter } from './ext-proc-filter';
import type { HeaderMap } from './header-map';

export type HeldBodyOutcome =
  /** `rest`: the part of a BUFFERED_PARTIAL body still to come, which passes unprocessed. */
  | { kind: 'continue'; body: Buffer; rest: http.IncomingMessage | undefined }
  | Extract<FilterStatus, { kind: 'local-reply' }>
  | { kind: 'reset'; message: string };

export async function processHeldBody(filter: UpstreamExtProcFilter, mode: 'BUFFERED' | 'BUFFERED_PARTIAL',
  headers: HeaderMap, response: http.IncomingMessage, limit: number): Promise<HeldBodyOutcome> {
  // The readers below observe errors; this keeps one arriving between them from going unhandled.
  response.on('error', () => {});
  let first: { data: Buffer; ended: boolean };
  try {
    first = await readUpTo(response, limit);
  } catch (error) {
    return { kind: 'reset', message: (error as Error).message };
  }
  if (!first.ended && mode === 'BUFFERED') {
    response.destroy();
    return { kind: 'local-reply', reply: localReply(500, 'response_payload_too_large', 'Internal Server Error') };
  }
  const body = { data: first.data };
  const status = await filter.encodeBody(headers, body, first.ended, mode === 'BUFFERED' ? 'buffered' : 'partial');
  if (status.kind === 'local-reply') {
    response.destroy();
    return status;
  }
  return { kind: 'continue', body: body.data, rest: first.ended ? undefined : response };
}

/** Reads until the end, or until more than `limit` bytes arrived (then pauses the stream). */
function readUpTo(stream: http.IncomingMessage, limit: number): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (ended: boolean): void => {
      stream.off('data', onData).off('end', onEnd).off('error', reject);
      resolve({ data: Buffer.concat(chunks), ended });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        stream.pause();
        settle(false);
      }
    };
    const onEnd = (): void => settle(true);
    stream.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

/**
 * A BUFFERED_PARTIAL body after its reply: the processed prefix, then the rest as it arrives. The
 * emulator drops content-length for it (a body mutation may have changed the length).
 */
export function relayAfter(prefix: Buffer, rest: http.IncomingMessage, headers: HeaderMap): Readable {
  headers.remove('content-length');
  const relay = new PassThrough();
  relay.write(prefix);
  rest.once('error', (error) => relay.destroy(error));
  rest.pipe(relay);
  return relay;
}
