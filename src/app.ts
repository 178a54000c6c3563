import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { CompiledConfig } from './config';
import { type Clock, type Random, systemClock } from './core/clock';
import { PoolScheduler } from './core/scheduler';
import { AttemptProcessor } from './extproc/attempt';
import { EXT_PROC_SERVICE, loadExtProcDefinition } from './extproc/protos';
import { bindServer, createExtProcServer } from './extproc/server';
import { ListenError, describe, prepareListen } from './listen';
import { createAdminServer } from './ops/admin';
import { Metrics } from './ops/metrics';
import { poolsView, runAction } from './ops/pools-view';
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
  /** The bound admin address (`host:port` or `unix:/path`). */
  readonly adminAddress: string;
  /**
   * Drains, then stops: not ready at once while new streams are still accepted for the drain
   * window; then no new streams, open ones get the shutdown grace, the rest are cancelled.
   */
  stop(): Promise<void>;
  /** Attempts whose ext_proc stream is open now. */
  activeAttempts(): number;
}

/** Envoy retries a whole request within seconds; a request's tried accounts need not outlive that. */
const REQUEST_MEMORY = { maxRequests: 100_000, requestTtlMs: 10 * 60_000 };

/** Wiring only: config → schedulers → ext_proc server, health, reflection, metrics and admin. */
export async function startApp(options: AppOptions): Promise<App> {
  const { settings, config, logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const maxBindings = new Map(config.pools.map((pool) => [pool.policy.name, pool.policy.sticky?.maxBindings ?? 1]));
  const store = createMemoryStateStore({ clock, maxSessionBindings: (pool) => maxBindings.get(pool) ?? 1, ...REQUEST_MEMORY });
  const schedulers = new Map(
    config.pools.map((pool) => [pool.policy.name, new PoolScheduler(pool.policy, { clock, random, sessions: store.sessions })]),
  );
  let processor: AttemptProcessor | undefined;
  const metrics = new Metrics(() => schedulers, () => processor?.activeAttempts() ?? 0, () => clock.now());
  processor = new AttemptProcessor({ config, schedulers, requests: store.requests, clock, logger, metrics });

  const definition = loadExtProcDefinition();
  const server = createExtProcServer(
    definition,
    processor,
    { listen: settings.grpcListen, maxReceiveBytes: settings.grpcMaxReceiveBytes, maxStreams: settings.grpcMaxStreams },
    logger,
    metrics,
  );
  const health = new HealthImplementation({ '': 'NOT_SERVING', [EXT_PROC_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  let draining = false;
  const admin = createAdminServer(
    {
      ready: () => !draining,
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      pools: () => poolsView(config, schedulers, store.sessions, metrics, clock.now()),
      act: (pool, account, action) => runAction(config, schedulers, store.sessions, metrics, pool, account, action),
    },
    { tokenFile: settings.adminTokenFile },
    logger,
  );

  const grpcAddress = await bindServer(server, settings.grpcListen, 'KEYSWITCH_GRPC_LISTEN');
  let adminAddress: string;
  try {
    adminAddress = await listenAdmin(admin, settings.adminListen);
  } catch (error) {
    // Nothing may keep a half-started process alive in NOT_SERVING: close what is bound, then report.
    server.forceShutdown();
    throw error;
  }
  health.setStatus('', 'SERVING');
  health.setStatus(EXT_PROC_SERVICE, 'SERVING');
  logger.info(
    {
      grpc: grpcAddress,
      admin: adminAddress,
      config: config.source,
      pools: config.pools.map((pool) => pool.policy.name),
      accounts: config.accountCount,
    },
    'keyswitch started',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      draining = true;
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(EXT_PROC_SERVICE, 'NOT_SERVING');
      logger.info({ drainSeconds: settings.drainMs / 1000 }, 'draining: not ready, still accepting streams');
      await new Promise((resolve) => setTimeout(resolve, settings.drainMs));
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          logger.warn(
            { graceSeconds: settings.shutdownGraceMs / 1000, cancelled: processor!.activeAttempts() },
            'shutdown grace over: cancelling the streams still open',
          );
          server.forceShutdown();
        }, settings.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await new Promise<void>((resolve) => {
        admin.close(() => resolve());
        admin.closeAllConnections();
      });
      logger.info('keyswitch stopped');
    })());
  return { grpcAddress, adminAddress, stop, activeAttempts: () => processor!.activeAttempts() };
}

async function listenAdmin(admin: http.Server, listen: string): Promise<string> {
  await prepareListen('KEYSWITCH_ADMIN_LISTEN', listen);
  const socketPath = listen.startsWith('unix:') ? listen.slice('unix:'.length) : undefined;
  const host = socketPath === undefined ? listen.slice(0, listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1') : undefined;
  const port = socketPath === undefined ? Number(listen.slice(listen.lastIndexOf(':') + 1)) : undefined;
  await new Promise<void>((resolve, reject) => {
    admin.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError('KEYSWITCH_ADMIN_LISTEN', listen, describe(error))));
    if (socketPath !== undefined) admin.listen(socketPath, resolve);
    else admin.listen({ host, port, exclusive: true }, resolve);
  });
  if (socketPath !== undefined) return listen;
  const address = admin.address() as AddressInfo;
  return listen.replace(/:\d+$/, `:${address.port}`);
}
