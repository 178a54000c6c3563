/**
 * Paths into the keyswitch repository from compiled test code. Tests run from dist/test/…, so the
 * repository root is found by walking up to the package.json named "keyswitch" instead of
 * counting "../" segments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cachedRoot: string | undefined;

/** Absolute path of the repository root. Throws if it cannot be found above this file. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'keyswitch') {
      cachedRoot = dir;
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`keyswitch package.json not found above ${__dirname}`);
  }
}

/** Absolute path of a file or directory given relative to the repository root. */
export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}

/** A repository file's text. */
export function readRepoFile(...parts: string[]): string {
  return fs.readFileSync(repoPath(...parts), 'utf8');
}
