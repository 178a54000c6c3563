import { status } from '@grpc/grpc-js';

/**
 * The stream-level errors keyswitch expects. The stream handler is the only place that turns
 * them into a gRPC status; any other exception is a bug, logged at error level, and still ends
 * only its own stream.
 */
export class StreamError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** Envoy sent something the protocol does not allow at this point of the stream. */
export function protocolViolation(message: string): StreamError {
  return new StreamError(status.INVALID_ARGUMENT, `protocol violation: ${message}`);
}

/** The request cannot be served by this config, e.g. its cluster belongs to no pool. */
export function noPool(message: string): StreamError {
  return new StreamError(status.FAILED_PRECONDITION, message);
}
