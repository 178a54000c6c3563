/**
 * What one running emulator shares between downstream requests: the gRPC channel to the ext_proc
 * server (Envoy keeps one HTTP/2 connection pool per ext_proc cluster), the upstream connection
 * pool, counters, per-cluster retry circuit-breaker usage, and the behaviour switches.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as http from 'node:http';
import type { StreamCloseMode } from './ext-proc-stream';
import type { ValueOnlyMutation } from './mutation';
import type { Stats } from './trace';
import type { PbProcessingRequest, PbProcessingResponse } from './wire';

/** Identifies one upstream attempt for the emulator's per-attempt test hooks. */
export interface AttemptInfo {
  cluster: string;
  /** 1-based, = x-envoy-attempt-count. */
  attempt: number;
  requestId: string;
}

export interface EmulatorEnv {
  client: grpc.Client & { Process(): grpc.ClientDuplexStream<PbProcessingRequest, PbProcessingResponse> };
  agent: http.Agent;
  stats: Stats;
  /** Overrides every ext_proc filter's message_timeout when set. */
  messageTimeoutMs: number | undefined;
  closeWhenDone: boolean;
  closeMode: StreamCloseMode;
  valueOnly: ValueOnlyMutation;
  /** envoy.type.v3.StatusCode names → numbers, for ImmediateResponse.status. */
  statusCodes: Record<string, number>;
  /** Retries currently holding a max_retries circuit-breaker slot, per cluster. */
  activeRetries: Map<string, number>;
  /** ext_proc calls not finished yet; cancelled on stop(). */
  liveCalls: LiveCalls;
  /** EnvoyEmulatorOptions.failConnect. */
  failConnect: ((attempt: AttemptInfo) => number | Promise<unknown> | undefined) | undefined;
  /** A loopback port nothing listens on, for refused connections. */
  closedPort: number;
}

/** The ext_proc calls whose final status has not arrived yet. */
export class LiveCalls {
  private readonly calls = new Set<{ cancel(): void }>();
  private waiters: Array<() => void> = [];

  add(call: { cancel(): void }): void {
    this.calls.add(call);
  }

  delete(call: { cancel(): void }): void {
    this.calls.delete(call);
    if (this.calls.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no call is running (immediately if none is). */
  idle(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  cancelAll(): void {
    for (const call of [...this.calls]) call.cancel();
  }
}
