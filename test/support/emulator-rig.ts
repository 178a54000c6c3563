/**
 * The rig the emulator's own tests run on: a scripted ext_proc server, a scripted upstream and
 * the Envoy emulator between them, over real sockets.
 */
import { type EnvoyEmulator, type EnvoyEmulatorOptions, startEnvoyEmulator } from './envoy-emulator';
import { projectBootstrapPath } from './envoy-emulator/bootstrap-variant';
import { headerOf, headersResponse, setRaw } from './envoy-emulator/scripting';
import { type ClientRequest, type ClientResponse, httpRequest } from './http-client';
import { type ProcessorHandlers, type ScriptedProcessor, startScriptedProcessor } from './scripted-processor';
import { type ScriptedUpstream, type ScriptEntry, startScriptedUpstream } from './scripted-upstream';

export interface Rig {
  processor: ScriptedProcessor;
  upstream: ScriptedUpstream;
  envoy: EnvoyEmulator;
}

export interface RigOptions {
  handlers: ProcessorHandlers;
  script?: Record<string, ScriptEntry>;
  yaml?: string;
  emulator?: Partial<EnvoyEmulatorOptions>;
}

/** Start processor + upstream + emulator, run `body`, always stop all three. */
export async function withRig(options: RigOptions, body: (rig: Rig) => Promise<void>): Promise<void> {
  const processor = await startScriptedProcessor(options.handlers);
  const upstream = await startScriptedUpstream({ script: options.script ?? {} });
  let envoy: EnvoyEmulator | undefined;
  try {
    envoy = await startEnvoyEmulator({
      ...(options.yaml === undefined ? { bootstrapPath: projectBootstrapPath() } : { bootstrapYaml: options.yaml }),
      extProcAddress: processor.address,
      clusters: { llm_openai: upstream.url, llm_anthropic: upstream.url },
      ...options.emulator,
    });
    await body({ processor, upstream, envoy });
  } finally {
    await envoy?.stop();
    await upstream.stop();
    await processor.stop();
  }
}

/** A plain HTTP/1.1 request to the emulator. */
export function send(envoy: EnvoyEmulator, path: string, init: ClientRequest = {}): Promise<ClientResponse> {
  return httpRequest(`${envoy.url}${path}`, init);
}

export const MARK_RETRY = { set_headers: [setRaw('x-keyswitch-failover', 'retry')] };

/** The attempt number of a stream, from upstream.request_attempt_count on its first message. */
export function attemptOf(stream: { attributes: Record<string, unknown> | undefined }): number {
  return Number(stream.attributes?.['upstream.request_attempt_count'] ?? 0);
}

/** A keyswitch-like processor: key-N on attempt N; marks 429 responses for retry. */
export const rotatingKeys: ProcessorHandlers = {
  request_headers: (_msg, { stream }) => headersResponse('request_headers', { set_headers: [setRaw('authorization', `Bearer key-${attemptOf(stream)}`)] }),
  response_headers: (msg) => headersResponse('response_headers', headerOf(msg, ':status') === '429' ? MARK_RETRY : {}),
};
