import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Logger } from 'pino';
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
): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveBytes,
    'grpc.max_concurrent_streams': options.maxStreams,
  });
  const extProc = (grpc.loadPackageDefinition(definition) as unknown as ExtProcPackage).envoy.service.ext_proc.v3;
  server.addService(withDecodeLogging(extProc.ExternalProcessor.service, logger), {
    Process: (call: Parameters<typeof handleProcessStream>[0]) => handleProcessStream(call, processor, logger),
  });
  return server;
}

/**
 * grpc-js answers a message it cannot decode with INTERNAL on its own and never tells the
 * handler; wrapping the decoder gives that protocol violation its log line.
 */
function withDecodeLogging(service: grpc.ServiceDefinition, logger: Logger): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
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
 * A unix socket left behind by a crashed run is replaced, and the new one is made
 * connectable by any user, because Envoy runs as another user in another container that only
 * shares the socket's folder.
 */
export async function bindServer(server: grpc.Server, listen: string): Promise<string> {
  const socketPath = listen.startsWith('unix:') ? listen.slice('unix:'.length) : undefined;
  if (socketPath) await removeStaleSocket(socketPath);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  if (socketPath) {
    await fs.chmod(socketPath, 0o666);
    return listen;
  }
  return listen.replace(/:\d+$/, `:${port}`);
}

/** Unlinks a socket file nobody answers on; a live one belongs to another process and stays. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await fs.lstat(path).catch(() => undefined);
  if (!stat?.isSocket()) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another process is listening on ${path}`);
  await fs.unlink(path);
}
