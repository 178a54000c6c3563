import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../settings';

export type { Logger };

/**
 * JSON lines on stdout, with level names ("level":"info") so a log query needs no table of
 * pino's numbers. Code logs account ids, never credentials; the redact list is the second net
 * for a header map that slips into a log call by mistake.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'keyswitch' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: {
      paths: [
        'secret',
        '*.secret',
        'headers.authorization',
        'headers["x-api-key"]',
        'headers["api-key"]',
        'headers["x-goog-api-key"]',
        'headers.cookie',
        '*.headers.authorization',
        '*.headers["x-api-key"]',
        '*.headers["api-key"]',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * grpc-js writes its own plain-text lines to stderr (console.error); route them into the one
 * log format instead. grpc-js hands every severity to `error` after its own verbosity filter
 * (GRPC_VERBOSITY, default ERROR), so they arrive as warnings.
 */
export function routeGrpcLogs(logger: Logger): void {
  const grpcLogger = logger.child({ source: 'grpc-js' });
  const write = (...args: unknown[]): void => grpcLogger.warn(format(...args));
  grpc.setLogger({ error: write, info: write, debug: write });
}
