import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { type CompiledConfig, ConfigError, type Env, loadConfigFile } from './config';
import { type Clock, type Random, systemClock } from './core/clock';
import { PoolScheduler } from './core/scheduler';
import { AttemptProcessor, type Serving } from './extproc/attempt';
import { EXT_PROC_SERVICE, loadExtProcDefinition } from './extproc/protos';
import { bindServer, createExtProcServer } from './extproc/server';
import { ListenError, describe, hostAndPort, prepareListen } from './listen';
import { createAdminServer } from './ops/admin';
import { Metrics } from './ops/metrics';
import { poolsView, runAction } from './ops/pools-view';
import { configDigest, filesDigest, rotatedAccounts, watchConfigFiles } from './ops/reload';
import type { Settings } from './settings';
import { createMemoryStateStore } from './state/memory-store';

export interface AppOptions {
  readonly settings: Settings;
  readonly config: CompiledConfig;
  /** Where `{ env: NAME }` secrets come from on a reload (main passes process.env). */
  readonly env?: Env;
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
  /**
   * Reads the config file again (SIGHUP, or a watched file changed). True when a changed, valid
   * config now serves; an invalid one keeps the last good config and is counted.
   */
  reload(reason: string): Promise<boolean>;
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
  const schedulerDeps = { clock, random, sessions: store.sessions };
  let serving: Serving = {
    config,
    schedulers: new Map(config.pools.map((pool) => [pool.policy.name, new PoolScheduler(pool.policy, schedulerDeps)])),
  };
  let processor: AttemptProcessor | undefined;
  const metrics = new Metrics(() => serving.schedulers, () => processor?.activeAttempts() ?? 0, () => clock.now());
  processor = new AttemptProcessor({ requests: store.requests, clock, logger, metrics }, serving);

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
  if (settings.grpcReflection) new ReflectionService(definition).addToServer(server);

  let draining = false;
  const admin = createAdminServer(
    {
      ready: () => !draining,
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      pools: () => poolsView(serving.config, serving.schedulers, store.sessions, metrics, clock.now()),
      act: (pool, account, action) => runAction(serving.config, serving.schedulers, store.sessions, metrics, pool, account, action),
    },
    { tokenFile: settings.adminTokenFile },
    logger,
  );

  const grpcAddress = await bindServer(server, settings.grpcListen, 'KEYSWITCH_GRPC_LISTEN', settings.grpcSocketGroup);
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

  let digest = configDigest(config);
  const configPath = settings.configPath;
  const watchedFiles = (current: CompiledConfig): string[] => (configPath === undefined ? [] : [configPath, ...current.secretFiles]);
  let triedFiles = await filesDigest(watchedFiles(config));
  let reloading: Promise<unknown> = Promise.resolve();
  /** One reload at a time; a request during one waits for it and then looks again. Never rejects. */
  const reload = (reason: string): Promise<boolean> => {
    const next = reloading.then(() => reloadOnce(reason)).catch((error: unknown) => {
      metrics.reloaded('failure');
      logger.error({ err: error, reason }, 'bug: config reload failed unexpectedly; keeping the last good config');
      return false;
    });
    reloading = next;
    return next;
  };
  const reloadOnce = async (reason: string): Promise<boolean> => {
    if (stopping !== undefined) return false;
    if (configPath === undefined) {
      logger.info({ reason }, 'the embedded demo config has nothing to reload');
      return false;
    }
    // A file event or the poll retries only what changed since the last try; SIGHUP forces it.
    const files = await filesDigest(watchedFiles(serving.config));
    if (stopping !== undefined || (files === triedFiles && reason !== 'SIGHUP')) return false;
    triedFiles = files;
    let next: CompiledConfig;
    try {
      next = loadConfigFile(configPath, options.env ?? {});
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      metrics.reloaded('failure');
      logger.error({ reason, problems: error.problems }, 'config reload failed: keeping the last good config');
      return false;
    }
    const nextDigest = configDigest(next);
    if (nextDigest === digest) return false;
    const rotated = rotatedAccounts(serving.config, next);
    for (const pool of next.pools) maxBindings.set(pool.policy.name, pool.policy.sticky?.maxBindings ?? 1);
    const schedulers = new Map(
      next.pools.map((pool) => {
        const scheduler = new PoolScheduler(pool.policy, schedulerDeps);
        const previous = serving.schedulers.get(pool.policy.name);
        if (previous === undefined) metrics.startPool(scheduler);
        else scheduler.carryOver(previous, rotated);
        return [pool.policy.name, scheduler] as const;
      }),
    );
    serving = { config: next, schedulers };
    processor!.use(serving);
    digest = nextDigest;
    metrics.reloaded('success');
    watch.watchFiles(watchedFiles(next));
    logger.info({ reason, pools: next.pools.map((pool) => pool.policy.name), accounts: next.accountCount, rotated: rotated.size }, 'config reloaded');
    return true;
  };
  let stopping: Promise<void> | undefined;
  const watch = watchConfigFiles(() => void reload('file changed'));
  watch.watchFiles(watchedFiles(config));

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      draining = true;
      watch.close();
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
  return { grpcAddress, adminAddress, stop, activeAttempts: () => processor!.activeAttempts(), reload };
}

async function listenAdmin(admin: http.Server, listen: string): Promise<string> {
  await prepareListen('KEYSWITCH_ADMIN_LISTEN', listen);
  const socketPath = listen.startsWith('unix:') ? listen.slice('unix:'.length) : undefined;
  // An admin socket is as private as the ext_proc one: owner and group only, from the start.
  const umask = process.umask(0o117);
  await new Promise<void>((resolve, reject) => {
    admin.once('error', (error: NodeJS.ErrnoException) => reject(new ListenError('KEYSWITCH_ADMIN_LISTEN', listen, describe(error))));
    if (socketPath !== undefined) admin.listen(socketPath, resolve);
    else admin.listen({ ...hostAndPort(listen), exclusive: true }, resolve);
  }).finally(() => process.umask(umask));
  if (socketPath !== undefined) return listen;
  const address = admin.address() as AddressInfo;
  return listen.replace(/:\d+$/, `:${address.port}`);
}
