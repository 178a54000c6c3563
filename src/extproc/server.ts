import { promises as fs } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { ListenError, describe, prepareListen } from '../listen';
import type { Metrics } from '../ops/metrics';
import type { AttemptProcessor } from './attempt';
import { type ExtProcPackage } from './protos';
import { handleProcessStream } from './stream';

export interface ExtProcServerOptions {
  readonly listen: string;
  readonly maxReceiveBytes: number;
  readonly maxStreams: number;
}

/** A gRPC server with the ext_proc service registered; health and reflection are added by the caller. */
export function createExtProcServer(
  definition: PackageDefinition,
  processor: AttemptProcessor,
  options: ExtProcServerOptions,
  logger: Logger,
  metrics: Metrics,
): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveBytes,
    'grpc.max_concurrent_streams': options.maxStreams,
  });
  const extProc = (grpc.loadPackageDefinition(definition) as unknown as ExtProcPackage).envoy.service.ext_proc.v3;
  server.addService(withDecodeLogging(extProc.ExternalProcessor.service, logger, metrics), {
    Process: (call: Parameters<typeof handleProcessStream>[0]) => handleProcessStream(call, processor, logger, metrics),
  });
  return server;
}

/**
 * grpc-js answers a message it cannot decode with INTERNAL on its own and never tells the
 * handler; wrapping the decoder gives that protocol violation its log line.
 */
function withDecodeLogging(service: grpc.ServiceDefinition, logger: Logger, metrics: Metrics): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            metrics.protocolViolation();
            logger.warn({ code: 'INTERNAL', bytes: bytes.length }, `protocol violation: undecodable ${name} message`);
            throw error;
          }
        },
      },
    ]),
  );
}

/**
 * Binds `host:port` or `unix:/path` and returns the bound address (the real port for :0).
 * The socket is a key dispenser: anything that can send request_headers on it receives a live
 * credential. It is made 0660, owned by `socketGroup` when given, so Envoy (another user in
 * another container, sharing the group through the pod's fsGroup) can connect and nobody else.
 */
export async function bindServer(server: grpc.Server, listen: string, setting: string, socketGroup?: number): Promise<string> {
  await prepareListen(setting, listen);
  // grpc-js serves as soon as it is bound: the socket must never exist with a wider mode.
  const umask = process.umask(0o117);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(new ListenError(setting, listen, bindCause(error.message))) : resolve(bound),
    );
  }).finally(() => process.umask(umask));
  if (listen.startsWith('unix:')) {
    const socketPath = listen.slice('unix:'.length);
    try {
      if (socketGroup !== undefined) await fs.chown(socketPath, -1, socketGroup);
      await fs.chmod(socketPath, 0o660);
    } catch (error) {
      // Bound but unusable by Envoy: close it rather than serve nobody.
      server.forceShutdown();
      throw new ListenError(setting, listen, `cannot give the socket mode 0660${socketGroup === undefined ? '' : ` and group ${socketGroup}`}: ${describe(error as NodeJS.ErrnoException)}`);
    }
    return listen;
  }
  return listen.replace(/:\d+$/, `:${port}`);
}

/** grpc-js wraps the system error: "No address added ... errors: [listen EADDRINUSE: ...]". */
function bindCause(message: string): string {
  const match = /\[listen (E[A-Z]+): ([^\]]*?)(?: \S+)?\]/.exec(message);
  return match ? `${match[2]} (${match[1]})` : message;
}
