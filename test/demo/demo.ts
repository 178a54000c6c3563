/**
 * `npm run demo`: keyswitch on its embedded defaults (the real binary, no KEYSWITCH_CONFIG),
 * a scripted provider on 127.0.0.1 that refuses one of the three demo accounts' key (401) and
 * rate-limits another, and the Envoy emulator configured by envoy/envoy.yaml, sending a burst of
 * requests. Prints the accounts each request tried and its final status, then a summary. Exits 1
 * if a client saw anything but a 200.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEnvoyEmulator } from '../support/envoy-emulator';
import { projectBootstrapPath } from '../support/envoy-emulator/bootstrap-variant';
import { httpRequest } from '../support/http-client';
import { startScriptedUpstream } from '../support/scripted-upstream';

const MAIN = path.resolve(__dirname, '../../src/main.js');
const WAVES = 4;
const PER_WAVE = 5;
const REFUSED = 'demo-a';
const LIMITED = 'demo-b';

async function main(): Promise<number> {
  const socket = path.join(os.tmpdir(), `keyswitch-demo-${process.pid}.sock`);
  const keyswitch = await startKeyswitchProcess(socket);
  const provider = await startScriptedUpstream({
    script: {
      // demo-a's key is refused: keyswitch disables it after its first 401.
      'demo-key-a': { status: 401, body: { error: { type: 'authentication_error', message: 'invalid x-api-key' } } },
      // demo-b is rate limited for one second at a time, so it is limited again in every wave.
      'demo-key-b': { status: 429, headers: { 'retry-after': '1' }, body: { error: { type: 'rate_limit_error' } } },
    },
  });
  const envoy = await startEnvoyEmulator({
    bootstrapPath: projectBootstrapPath(),
    extProcAddress: `unix:${socket}`,
    clusters: { llm_openai: provider.url, llm_anthropic: provider.url },
  });
  console.log(`keyswitch (embedded demo pool: demo-a, demo-b, demo-c) on unix:${socket}`);
  console.log(`provider on ${provider.url} refuses ${REFUSED}'s key and rate-limits ${LIMITED}; Envoy emulator on ${envoy.url} reads envoy/envoy.yaml\n`);

  const results: Array<{ id: string; status: number; tried: string[] }> = [];
  try {
    for (let wave = 0; wave < WAVES; wave += 1) {
      const batch = await Promise.all(
        Array.from({ length: PER_WAVE }, (_, i) => {
          const id = `demo-${String(wave * PER_WAVE + i + 1).padStart(2, '0')}`;
          const body = JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] });
          const headers = { 'content-type': 'application/json', 'x-request-id': id };
          return httpRequest(`${envoy.url}/v1/chat/completions`, { method: 'POST', headers, body }).then(({ status }) => ({ id, status }));
        }),
      );
      for (const { id, status } of batch) {
        const tried = provider.calls.filter((call) => call.headers['x-request-id'] === id).map((call) => accountOf(call.credential));
        results.push({ id, status, tried });
        console.log(`${id}  tried ${tried.join(' -> ').padEnd(22)} final ${status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
  } finally {
    await envoy.stop();
    await provider.stop();
    await stopProcess(keyswitch);
  }

  const attempts = results.reduce((sum, r) => sum + r.tried.length, 0);
  const failovers = results.filter((r) => r.tried.length > 1 && r.status === 200).length;
  const visible = (status: number): number => results.filter((r) => r.status === status).length;
  const calls = (account: string): number => results.flatMap((r) => r.tried).filter((a) => a === account).length;
  console.log(`\nrequests: ${results.length}, upstream attempts: ${attempts}, recovered by failover: ${failovers}`);
  console.log(`upstream 401s from ${REFUSED}: ${calls(REFUSED)} (all in the first wave: then disabled until its probe)`);
  console.log(`upstream 429s from ${LIMITED}: ${calls(LIMITED)}`);
  console.log(`client-visible 401s: ${visible(401)}`);
  console.log(`client-visible 429s: ${visible(429)}`);
  return results.every((r) => r.status === 200) ? 0 : 1;
}

function accountOf(credential: string | undefined): string {
  const match = /demo-key-([abc])$/.exec(credential ?? '');
  return match ? `demo-${match[1]}` : '(none)';
}

function startKeyswitchProcess(socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      KEYSWITCH_GRPC_LISTEN: `unix:${socket}`,
      KEYSWITCH_ADMIN_LISTEN: '127.0.0.1:0',
      KEYSWITCH_DRAIN_SECONDS: '0',
      KEYSWITCH_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error('keyswitch did not start within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`keyswitch exited with status ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        console.log(`  [keyswitch log] ${summarize(line)}`);
        if (line.includes('"keyswitch started"')) {
          clearTimeout(timer);
          resolve(child);
        }
      }
    });
  });
}

/** A keyswitch JSON log line without the fields every line has. */
function summarize(line: string): string {
  try {
    const { level: _level, time: _time, service: _service, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
    return `${String(msg)} ${JSON.stringify(fields)}`;
  } catch {
    return line;
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
