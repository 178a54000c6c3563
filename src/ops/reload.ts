/**
 * Hot reload: watches the config file and every secret file, including Kubernetes' way of
 * updating a mounted ConfigMap or Secret (kubelet writes a new timestamped folder, then renames
 * the `..data` symlink over the old one, atomic_writer.go), and reports when a reload should be
 * tried. Folders are watched rather than files, because a swapped symlink never changes the
 * file that was opened. A slow poll repairs anything a watch missed (a folder replaced whole).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, promises as fs, watch } from 'node:fs';
import * as path from 'node:path';
import type { CompiledConfig } from '../config';

/** Quiet time after the last file event before reloading: kubelet's swap is several events. */
const SETTLE_MS = 150;
const POLL_MS = 10_000;

export interface ConfigWatch {
  /** Watches the folders of these files from now on (the set of secret files may change). */
  watchFiles(files: readonly string[]): void;
  close(): void;
}

export function watchConfigFiles(onChange: () => void): ConfigWatch {
  const watchers = new Map<string, FSWatcher>();
  let settle: NodeJS.Timeout | undefined;
  const changed = (): void => {
    clearTimeout(settle);
    settle = setTimeout(onChange, SETTLE_MS);
  };
  const poll = setInterval(onChange, POLL_MS);
  poll.unref();
  return {
    watchFiles(files) {
      const folders = new Set(files.map((file) => path.dirname(file)));
      for (const [folder, watcher] of watchers) {
        if (folders.has(folder)) continue;
        watcher.close();
        watchers.delete(folder);
      }
      for (const folder of folders) {
        if (watchers.has(folder)) continue;
        try {
          const watcher = watch(folder, { persistent: false }, changed);
          watcher.on('error', () => watchers.delete(folder));
          watchers.set(folder, watcher);
        } catch {
          // A folder that does not exist yet is caught by the poll.
        }
      }
    },
    close() {
      clearTimeout(settle);
      clearInterval(poll);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/**
 * A digest of everything a config means, keys included (as their own digests), so an event
 * that changed nothing (a touch, a kubelet resync) is not a reload. Kept in memory only.
 */
export function configDigest(config: CompiledConfig): string {
  const hash = createHash('sha256');
  const plain = (_key: string, value: unknown): unknown => (value instanceof Set ? [...value] : value instanceof Map ? [...value] : value);
  for (const pool of config.pools) {
    hash.update(JSON.stringify({ policy: pool.policy, clusters: pool.clusters, credential: pool.credential, strip: pool.stripHeaders }, plain));
    for (const [id, secret] of pool.secrets) hash.update(id).update('\u0000').update(createHash('sha256').update(secret.reveal()).digest());
  }
  return hash.digest('hex');
}

/** Accounts present in both configs whose key changed. */
export function rotatedAccounts(before: CompiledConfig, after: CompiledConfig): Set<string> {
  const previous = new Map<string, string>();
  for (const pool of before.pools) for (const [id, secret] of pool.secrets) previous.set(id, secret.reveal());
  const rotated = new Set<string>();
  for (const pool of after.pools) {
    for (const [id, secret] of pool.secrets) if (previous.has(id) && previous.get(id) !== secret.reveal()) rotated.add(id);
  }
  return rotated;
}

/**
 * A digest of the watched files' bytes (or why each cannot be read) and of what their folders
 * hold, so the poll and repeated events do not retry, and count again, a change already tried,
 * while a file that appears beside them (a secret a new config names) is still noticed. Read
 * asynchronously: thousands of secret files must not hold the event loop past message_timeout.
 */
export async function filesDigest(files: readonly string[]): Promise<string> {
  const contents = await Promise.all(
    files.map((file) => fs.readFile(file).catch((error: NodeJS.ErrnoException) => `unreadable:${error.code ?? ''}`)),
  );
  const folders = [...new Set(files.map((file) => path.dirname(file)))];
  const listings = await Promise.all(
    folders.map(async (folder) => {
      try {
        const entries = (await fs.readdir(folder)).sort();
        const stats = await Promise.all(entries.map((entry) => fs.lstat(path.join(folder, entry)).catch(() => undefined)));
        return entries.map((entry, i) => `${entry}:${stats[i]?.size}:${stats[i]?.mtimeMs}`).join('\u0000');
      } catch {
        return `${folder}:unreadable`;
      }
    }),
  );
  const hash = createHash('sha256');
  files.forEach((file, i) => hash.update(file).update('\u0000').update(contents[i]!));
  for (const listing of listings) hash.update(listing);
  return hash.digest('hex');
}
