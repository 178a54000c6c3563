import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '../../..');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath ?? (e as any).path, e.name))).sort();
}

// The adapter's types must describe the objects proto-loader really produces, so
// src/extproc/generated must be exactly what `npm run gen:types` makes from proto/ today.
test('src/extproc/generated is fresh for proto/', async () => {
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'keyswitch-gen-'));
  const script = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')).scripts['gen:types'] as string;
  const args = script.split(' ').slice(1).map((arg) => (arg.startsWith('--outDir=') ? `--outDir=${out}` : arg));
  const result = spawnSync(path.join(ROOT, 'node_modules/.bin/proto-loader-gen-types'), args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const committed = path.join(ROOT, 'src/extproc/generated');
  const files = await listFiles(out);
  assert.deepEqual(await listFiles(committed), files);
  for (const file of files) {
    assert.equal(await fs.readFile(path.join(committed, file), 'utf8'), await fs.readFile(path.join(out, file), 'utf8'), file);
  }
  await fs.rm(out, { recursive: true, force: true });
});
