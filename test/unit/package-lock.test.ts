/**
 * `npm ci` installs package-lock.json exactly; `npm install` rewrites it when it disagrees with
 * package.json, which leaves a fresh clone dirty after README's first command. The lockfile's
 * root entry must say what package.json says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readRepoFile } from '../support/repo-files';

test('package-lock.json records exactly the dependencies, engines and version of package.json', () => {
  const manifest = JSON.parse(readRepoFile('package.json')) as Record<string, unknown>;
  const lock = JSON.parse(readRepoFile('package-lock.json')) as { version: string; packages: Record<string, Record<string, unknown>> };
  const root = lock.packages['']!;
  assert.equal(lock.version, manifest.version);
  for (const field of ['name', 'version', 'license', 'dependencies', 'devDependencies', 'engines', 'bin']) {
    assert.deepEqual(root[field], manifest[field], `package-lock.json packages[""].${field}`);
  }
});

test('every dependency is pinned to one version, so CI and users install the same tree', () => {
  const manifest = JSON.parse(readRepoFile('package.json')) as Record<string, Record<string, string>>;
  for (const field of ['dependencies', 'devDependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      assert.match(range, /^\d+\.\d+\.\d+$/, `${field}.${name} is "${range}"`);
    }
  }
});
