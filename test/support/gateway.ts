import * as os from 'node:os';
import * as path from 'node:path';
import type { Clock, Random } from '../../src/core/clock';
import type { Settings } from '../../src/settings';
import { FakeClock } from './fake-clock';
import { type EnvoyEmulator, type EnvoyEmulatorOptions, startEnvoyEmulator } from './envoy-emulator';
import { type ClientResponse, httpRequest } from './http-client';
import { projectBootstrapPath } from './envoy-emulator/bootstrap-variant';
import { type RunningKeyswitch, startKeyswitch } from './keyswitch';
import { type ScriptedUpstream, type ScriptedUpstreamOptions, startScriptedUpstream } from './scripted-upstream';

export interface GatewayOptions {
  readonly configYaml?: string;
  /** A config file keyswitch watches and reloads, instead of configYaml. */
  readonly configPath?: string;
  readonly env?: Record<string, string>;
  readonly upstream?: ScriptedUpstreamOptions;
  readonly clock?: Clock;
  readonly random?: Random;
  /** A variant of envoy/envoy.yaml (bootstrapVariant); the real file when absent. */
  readonly bootstrapYaml?: string;
  /** Settings that differ from the test defaults. */
  readonly settings?: Partial<Settings>;
  /** Attempts whose upstream connection is refused (the emulator's failConnect). */
  readonly failConnect?: EnvoyEmulatorOptions['failConnect'];
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
    ...(options.configPath !== undefined && { configPath: options.configPath }),
    ...(options.env && { env: options.env }),
    ...(options.clock && { clock: options.clock }),
    ...(options.random && { random: options.random }),
    ...(options.settings && { settings: options.settings }),
  });
  const upstream = await startScriptedUpstream(options.upstream ?? {});
  const envoy = await startEnvoyEmulator({
    ...(options.bootstrapYaml === undefined ? { bootstrapPath: projectBootstrapPath() } : { bootstrapYaml: options.bootstrapYaml }),
    extProcAddress: keyswitch.address,
    clusters: { llm_openai: upstream.url, llm_anthropic: upstream.url },
    ...(options.failConnect && { failConnect: options.failConnect }),
  });
  return {
    keyswitch,
    envoy,
    upstream,
    send: (requestPath = '/v1/chat/completions', headers = {}, body = '{"model":"m","messages":[]}') =>
      httpRequest(envoy.url + requestPath, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }),
    stop: async () => {
      await envoy.stop();
      await upstream.stop();
      await keyswitch.stop();
    },
  };
}

/**
 * A gateway on a fake clock (random 0.5 unless given) for the length of `body`; stopped
 * whatever happens.
 */
export async function withGateway(
  options: Omit<GatewayOptions, 'clock'> & { readonly clock?: FakeClock },
  body: (gateway: Gateway, clock: FakeClock) => Promise<void>,
): Promise<void> {
  const clock = options.clock ?? new FakeClock();
  const gateway = await startGateway({ random: () => 0.5, ...options, clock });
  try {
    await body(gateway, clock);
  } finally {
    await gateway.stop();
  }
}

/** Credentials that reached the provider since call number `from`, in order. */
export function credentialsSince(gateway: Gateway, from: number): Array<string | undefined> {
  return gateway.upstream.calls.slice(from).map((call) => call.credential);
}
