import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { CompiledConfig } from './config';
import { type Clock, type Random, systemClock } from './core/clock';
import { PoolScheduler } from './core/scheduler';
import { AttemptProcessor } from './extproc/attempt';
import { EXT_PROC_SERVICE, loadExtProcDefinition } from './extproc/protos';
import { bindServer, createExtProcServer } from './extproc/server';
import type { Settings } from './settings';
import { createMemoryStateStore } from './state/memory-store';

export interface AppOptions {
  readonly settings: Settings;
  readonly config: CompiledConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
}

export interface App {
  /** The bound ext_proc address, with the real port when the setting asked for port 0. */
  readonly grpcAddress: string;
  /** Stops taking streams, lets open ones finish within the shutdown grace, then closes the rest. */
  stop(): Promise<void>;
  /** Attempts whose ext_proc stream is open now. */
  activeAttempts(): number;
}

/** Envoy retries a whole request within seconds; a request's tried accounts need not outlive that. */
const REQUEST_MEMORY = { maxRequests: 100_000, requestTtlMs: 10 * 60_000 };

/** Wiring only: config → schedulers → ext_proc server, health and reflection. */
export async function startApp(options: AppOptions): Promise<App> {
  const { settings, config, logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const maxBindings = new Map(config.pools.map((pool) => [pool.policy.name, pool.policy.sticky?.maxBindings ?? 1]));
  const store = createMemoryStateStore({ clock, maxSessionBindings: (pool) => maxBindings.get(pool) ?? 1, ...REQUEST_MEMORY });
  const schedulers = new Map(
    config.pools.map((pool) => [pool.policy.name, new PoolScheduler(pool.policy, { clock, random, sessions: store.sessions })]),
  );
  const processor = new AttemptProcessor({ config, schedulers, requests: store.requests, clock, logger });

  const definition = loadExtProcDefinition();
  const server = createExtProcServer(definition, processor, {
    listen: settings.grpcListen,
    maxReceiveBytes: settings.grpcMaxReceiveBytes,
    maxStreams: settings.grpcMaxStreams,
  }, logger);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [EXT_PROC_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  const grpcAddress = await bindServer(server, settings.grpcListen, 'KEYSWITCH_GRPC_LISTEN');
  health.setStatus('', 'SERVING');
  health.setStatus(EXT_PROC_SERVICE, 'SERVING');
  logger.info(
    {
      grpc: grpcAddress,
      config: config.source,
      pools: config.pools.map((pool) => pool.policy.name),
      accounts: config.accountCount,
    },
    'keyswitch started',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= new Promise<void>((resolve) => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(EXT_PROC_SERVICE, 'NOT_SERVING');
      const force = setTimeout(() => {
        logger.warn({ graceSeconds: settings.shutdownGraceMs / 1000 }, 'shutdown grace over: closing the streams still open');
        server.forceShutdown();
      }, settings.shutdownGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        logger.info('keyswitch stopped');
        resolve();
      });
    }));
  return { grpcAddress, stop, activeAttempts: () => processor.activeAttempts() };
}
