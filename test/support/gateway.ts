import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Clock, Random } from '../../src/core/clock';
import { type EnvoyEmulator, startEnvoyEmulator } from './envoy-emulator';
import { projectBootstrapPath } from './envoy-emulator/bootstrap-variant';
import { type RunningKeyswitch, startKeyswitch } from './keyswitch';
import { type ScriptedUpstream, type ScriptedUpstreamOptions, startScriptedUpstream } from './scripted-upstream';

export interface GatewayOptions {
  readonly configYaml?: string;
  readonly env?: Record<string, string>;
  readonly upstream?: ScriptedUpstreamOptions;
  readonly clock?: Clock;
  readonly random?: Random;
  /** A variant of envoy/envoy.yaml (bootstrapVariant); the real file when absent. */
  readonly bootstrapYaml?: string;
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * The whole path over real sockets: a client → the Envoy emulator (configured by
 * envoy/envoy.yaml) → keyswitch on a unix socket → the scripted provider on 127.0.0.1, which
 * stands behind every cluster.
 */
export interface Gateway {
  readonly keyswitch: RunningKeyswitch;
  readonly envoy: EnvoyEmulator;
  readonly upstream: ScriptedUpstream;
  send(path?: string, headers?: Record<string, string>, body?: string): Promise<ClientResponse>;
  stop(): Promise<void>;
}

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const socket = path.join(os.tmpdir(), `keyswitch-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  const keyswitch = await startKeyswitch({
    listen: `unix:${socket}`,
    ...(options.configYaml !== undefined && { configYaml: options.configYaml }),
    ...(options.env && { env: options.env }),
    ...(options.clock && { clock: options.clock }),
    ...(options.random && { random: options.random }),
  });
  const upstream = await startScriptedUpstream(options.upstream ?? {});
  const envoy = await startEnvoyEmulator({
    ...(options.bootstrapYaml === undefined ? { bootstrapPath: projectBootstrapPath() } : { bootstrapYaml: options.bootstrapYaml }),
    extProcAddress: keyswitch.address,
    clusters: { llm_openai: upstream.url, llm_anthropic: upstream.url },
  });
  return {
    keyswitch,
    envoy,
    upstream,
    send: (requestPath = '/v1/chat/completions', headers = {}, body = '{"model":"m","messages":[]}') =>
      request(envoy.url + requestPath, headers, body),
    stop: async () => {
      await envoy.stop();
      await upstream.stop();
      await keyswitch.stop();
    },
  };
}

function request(url: string, headers: Record<string, string>, body: string): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
