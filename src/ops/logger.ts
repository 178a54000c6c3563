import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../settings';

export type { Logger };

/**
 * JSON lines on stdout. Code logs account ids, never credentials; the redact list is the
 * second net for a header map that slips into a log call by mistake.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'keyswitch' },
    timestamp: pino.stdTimeFunctions.isoTime,
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
