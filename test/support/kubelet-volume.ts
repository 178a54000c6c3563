/**
 * A folder laid out the way kubelet mounts a ConfigMap or Secret volume (pkg/volume/util
 * atomic_writer.go): the files live in a timestamped folder, `..data` is a symlink to it, and
 * each visible name is a symlink through `..data`. An update writes a new folder, points
 * `..data_tmp` at it and renames that over `..data`, so readers see the old set or the new set,
 * never a mix.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export class KubeletVolume {
  private generation = 0;
  private current: string | undefined;

  private constructor(readonly dir: string) {}

  static async create(files: Record<string, string>): Promise<KubeletVolume> {
    const volume = new KubeletVolume(await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-volume-')));
    await volume.update(files);
    for (const name of Object.keys(files)) await fs.symlink(path.join('..data', name), path.join(volume.dir, name));
    return volume;
  }

  /** The visible path of a file (through `..data`). */
  path(name: string): string {
    return path.join(this.dir, name);
  }

  /** Replaces the whole set of files atomically; `null` makes a name a folder (a broken secret). */
  async update(files: Record<string, string | null>): Promise<void> {
    this.generation += 1;
    const folder = `..2026_12_01_00_00_${String(this.generation).padStart(2, '0')}.${process.pid}`;
    await fs.mkdir(path.join(this.dir, folder));
    for (const [name, content] of Object.entries(files)) {
      if (content === null) await fs.mkdir(path.join(this.dir, folder, name));
      else await fs.writeFile(path.join(this.dir, folder, name), content);
    }
    await fs.symlink(folder, path.join(this.dir, '..data_tmp'));
    await fs.rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    if (this.current !== undefined) await fs.rm(path.join(this.dir, this.current), { recursive: true, force: true });
    this.current = folder;
  }

  remove(): Promise<void> {
    return fs.rm(this.dir, { recursive: true, force: true });
  }
}
