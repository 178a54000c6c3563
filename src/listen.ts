/**
 * What every listener checks before it binds, so a start-up failure says which setting, which
 * address and why in one line (grpc-js reports a missing socket folder as EACCES and logs its
 * own lines), and what a unix socket needs: a stale file from a crashed run is replaced, a live
 * socket or any other file is left alone.
 */
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** An address that cannot be bound: main prints the message and exits with status 2. */
export class ListenError extends Error {
  constructor(setting: string, address: string, cause: string) {
    super(`${setting} ${address}: ${cause}`);
  }
}

/** `host:port` or `[v6]:port` (as settings validated it) → the host without brackets and the port. */
export function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)) };
}

/** Checks that `address` (`host:port` or `unix:/path`) can be bound now; clears a stale socket. */
export async function prepareListen(setting: string, address: string): Promise<void> {
  if (address.startsWith('unix:')) return prepareSocket(setting, address, address.slice('unix:'.length));
  const { host, port } = hostAndPort(address);
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError(setting, address, describe(error))));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

async function prepareSocket(setting: string, address: string, socketPath: string): Promise<void> {
  const folder = path.dirname(socketPath);
  const folderStat = await fs.stat(folder).catch(() => undefined);
  if (!folderStat) throw new ListenError(setting, address, `folder ${folder} does not exist`);
  if (!folderStat.isDirectory()) throw new ListenError(setting, address, `${folder} is not a folder`);
  const stat = await fs.lstat(socketPath).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) throw new ListenError(setting, address, 'a file that is not a socket is in the way; remove it or pick another path');
  if (await answers(socketPath)) throw new ListenError(setting, address, 'another process is listening on this socket');
  await fs.unlink(socketPath).catch((error: NodeJS.ErrnoException) => {
    throw new ListenError(setting, address, `cannot remove the stale socket: ${describe(error)}`);
  });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

const CAUSES: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'no interface has this address',
  EACCES: 'permission denied',
  ENOTFOUND: 'host name does not resolve',
  EAI_AGAIN: 'host name does not resolve',
};

/** A system error as one line without a stack: its cause in words and its code. */
export function describe(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  return CAUSES[code] ? `${CAUSES[code]} (${code})` : error.message;
}
