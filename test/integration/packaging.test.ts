// The container image's contents, built without Docker: the same npm steps the Dockerfile runs,
// then the installed tree started on its own. No Docker engine runs here, so this is what stands
// for `docker build`: the pack's file list, a production install from it and the lockfile, and
// a keyswitch that starts from it, answers its probes and stops cleanly.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { readRepoFile, repoPath, repoRoot } from '../support/repo-files';

// The Dockerfile's npm commands, which this test runs too (checked below against the file).
const PACK = ['pack', '--ignore-scripts'];
const INSTALL = ['ci', '--omit=dev', '--ignore-scripts'];

interface Manifest { dependencies: Record<string, string> }
const manifest = JSON.parse(readRepoFile('package.json')) as Manifest;

/**
 * The environment for npm and keyswitch: `npm test`'s own lifecycle variables would point a
 * nested npm at this repository (npm_config_local_prefix), and a KEYSWITCH_* variable of the
 * caller would reach keyswitch.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(npm_lifecycle_|npm_package_|KEYSWITCH_)/i.test(name) || /^(npm_config_local_prefix|npm_command|INIT_CWD)$/i.test(name)) delete env[name];
  }
  return env;
}

/** Runs a command to its end, within `timeoutMs`; throws with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): string {
  const result = spawnSync(command, args, { cwd, env: childEnv(), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });
  if (result.error || result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} in ${cwd}: ${result.error?.message ?? `exit ${result.status} (signal ${result.signal})`}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

let work: string;
let tarball: string;
let packedFiles: string[];
let app: string;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyswitch-pack-'));
  // `npm test` has just built dist/ (the Dockerfile runs `npm run build` for the same). Packing
  // with --ignore-scripts packs that build; without it, `prepare` would rebuild dist/ in this
  // repository while other test files run from it.
  assert.ok(fs.existsSync(repoPath('dist', 'src', 'main.js')), 'dist/ is built (npm test builds first)');
  const out = path.join(work, 'pack');
  fs.mkdirSync(out);
  const [packed] = JSON.parse(run('npm', [...PACK, '--json', '--pack-destination', out], repoRoot(), 120_000)) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(out, packed!.filename);
  packedFiles = packed!.files.map((file) => file.path).sort();
});

after(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the package tarball (npm pack, as the Dockerfile makes it)', () => {
  it('holds the built sidecar, its protos, package.json, LICENSE and README.md, and no tests or TypeScript sources', () => {
    assert.ok(fs.existsSync(tarball));
    for (const required of ['dist/src/main.js', 'dist/src/app.js', 'package.json', 'LICENSE', 'README.md']) assert.ok(packedFiles.includes(required), required);
    for (const proto of ['proto/envoy/service/ext_proc/v3/external_processor.proto', 'proto/envoy/config/core/v3/base.proto']) assert.ok(packedFiles.includes(proto), proto);
    for (const file of packedFiles) {
      assert.ok(!/^(dist\/)?test\//.test(file), `${file}: tests stay out`);
      assert.ok(!/^src\//.test(file) && !/(?<!\.d)\.ts$/.test(file), `${file}: TypeScript sources stay out`);
      assert.ok(!/^(node_modules|\.git|envoy)\//.test(file), file);
    }
  });
});

describe('the production tree, installed from the tarball and the lockfile and started', () => {
  let child: ChildProcess | undefined;

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('installs runtime dependencies only, exactly as package-lock.json pins them', { timeout: 300_000 }, () => {
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    // The Dockerfile's install stage: unpack, add the lockfile (npm pack leaves it out), npm ci.
    run('tar', ['-xzf', tarball, '--strip-components=1', '-C', app], work, 60_000);
    fs.copyFileSync(repoPath('package-lock.json'), path.join(app, 'package-lock.json'));
    // --prefer-offline only spares registry round trips; the lockfile fixes the tree either way.
    run('npm', [...INSTALL, '--no-audit', '--no-fund', '--prefer-offline'], app, 240_000);
    for (const name of Object.keys(manifest.dependencies)) assert.ok(fs.existsSync(path.join(app, 'node_modules', name, 'package.json')), `${name} installed`);
    // Every package the lockfile marks dev-only is absent (typescript, kubernetes-models, ...);
    // every other one is there at its locked version.
    const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, { version: string; dev?: boolean }> };
    for (const [where, entry] of Object.entries(lock.packages)) {
      if (where === '') continue;
      if (entry.dev) {
        assert.ok(!fs.existsSync(path.join(app, where)), `${where} (dev only) not installed`);
        continue;
      }
      const installed = JSON.parse(fs.readFileSync(path.join(app, where, 'package.json'), 'utf8')) as { version: string };
      assert.equal(installed.version, entry.version, where);
    }
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'typescript')));
  });

  it('starts from dist/src/main.js, answers /healthz and gRPC health on its socket, and exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
    const main = path.join(app, 'dist', 'src', 'main.js');
    assert.ok(fs.existsSync(main), 'installed dist/src/main.js');
    const socket = path.join(work, 'ks.sock');
    // cwd outside the repository: nothing may resolve from this repository's node_modules.
    child = spawn(process.execPath, [main], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '', KEYSWITCH_GRPC_LISTEN: `unix:${socket}`, KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0', KEYSWITCH_DRAIN_SECONDS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "keyswitch started" line within 15 s\n${stdout}\n${stderr}`)), 15_000);
      let pending = '';
      child!.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(line) as Record<string, unknown>;
          } catch {
            clearTimeout(timer);
            reject(new Error(`a stdout line that is not JSON: ${line}`));
            return;
          }
          if (entry.msg === 'keyswitch started') {
            clearTimeout(timer);
            resolve(entry);
          }
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`exited before starting: ${code ?? signal}\n${stdout}\n${stderr}`));
      });
    });
    const admin = String(started.admin);
    assert.match(admin, /^127\.0\.0\.1:\d+$/);

    for (const route of ['/healthz', '/readyz']) {
      const status = await new Promise<number>((resolve, reject) => {
        const request = http.get(`http://${admin}${route}`, { timeout: 5_000 }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        request.on('timeout', () => request.destroy(new Error(`GET ${route} timed out`)));
        request.on('error', reject);
      });
      assert.equal(status, 200, route);
    }

    const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & Record<string, Function> } } } };
    const health = new pkg.grpc.health.v1.Health(`unix:${socket}`, grpc.credentials.createInsecure());
    try {
      for (const service of ['', 'envoy.service.ext_proc.v3.ExternalProcessor']) {
        const status = await new Promise<string>((resolve, reject) =>
          health.Check!({ service }, { deadline: Date.now() + 5_000 }, (error: Error | null, reply: { status: string }) => (error ? reject(error) : resolve(reply.status))),
        );
        assert.equal(status, 'SERVING', `health of "${service}"`);
      }
    } finally {
      health.close();
    }

    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([exited, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running 15 s after SIGTERM\n${stderr}`)), 15_000)))]);
    clearTimeout(timer);
    assert.deepEqual(result, { code: 0, signal: null }, stderr);
    assert.ok(!fs.existsSync(socket), 'the socket is removed on exit');
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = readRepoFile('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages = instructions.join('\n').split(/^(?=FROM )/m).filter((stage) => stage.startsWith('FROM '));

  it('runs the npm steps this test runs: build, pack, then a production install from the pack and the lockfile', () => {
    const runs = instructions.filter((line) => line.startsWith('RUN ')).join('\n');
    assert.match(runs, /npm ci --ignore-scripts\b/, 'the dev tree for the build');
    assert.match(runs, /npm run build\b/);
    assert.ok(runs.includes(`npm ${PACK.join(' ')}`), `npm ${PACK.join(' ')}`);
    assert.ok(runs.includes(`npm ${INSTALL.join(' ')}`), `npm ${INSTALL.join(' ')}`);
    assert.ok(runs.includes('tar -xzf /tmp/keyswitch.tgz --strip-components=1 -C /app'));
    assert.match(stages[0]!, /^FROM node:22-bookworm-slim AS build/);
  });

  it('runs as a numeric non-root user on distroless Node, with no HEALTHCHECK, starting dist/src/main.js', () => {
    const runtime = stages.at(-1)!;
    assert.match(runtime, /^FROM gcr\.io\/distroless\/nodejs22-debian12:nonroot\b/);
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(runtime);
    assert.ok(user, 'a numeric USER');
    assert.notEqual(user[1], '0');
    assert.notEqual(user[2], '0');
    assert.ok(!instructions.some((line) => line.startsWith('HEALTHCHECK')), 'Kubernetes owns probing');
    assert.ok(!/^RUN /m.test(runtime), 'nothing runs in the runtime stage: it has no shell');
    assert.match(runtime, /^ENTRYPOINT \["\/nodejs\/bin\/node", "\/app\/dist\/src\/main\.js"\]$/m);
    // The user of envoy/kubernetes/deployment.yaml's keyswitch container.
    assert.ok(readRepoFile('envoy', 'kubernetes', 'deployment.yaml').includes(`runAsUser: ${user[1]}`));
  });

  it('.dockerignore keeps node_modules, dist and .git out, and lets in what the Dockerfile copies', () => {
    const patterns = readRepoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    assert.equal(patterns[0], '*', 'everything is out unless let in');
    const allowed = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1).replace(/\/$/, ''));
    for (const name of allowed) assert.ok(!/node_modules|dist|\.git/.test(name), `${name} is let in`);
    assert.ok(patterns.includes('**/node_modules') && patterns.includes('**/dist'));
    const copied = instructions
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.slice('COPY '.length).split(/\s+/).slice(0, -1));
    for (const source of copied) assert.ok(allowed.includes(source), `${source} is in the build context`);
  });
});
