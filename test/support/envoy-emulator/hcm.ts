/**
 * The HTTP connection manager part: turns a real HTTP/1.1 request into Envoy's request-header map,
 * generates x-request-id once (HCM generate_request_id, default true), matches the route
 * (prefix / exact path, first match wins), applies the router's request-side header changes
 * (prefix_rewrite, x-envoy-original-path, x-envoy-expected-rq-timeout-ms unless
 * suppress_envoy_headers), runs the router, and writes the response or local reply.
 */
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';
import type { BootstrapModel, RouteModel, VirtualHostModel } from './bootstrap';
import type { EmulatorEnv } from './env';
import { localReply, type LocalReply } from './ext-proc-filter';
import { HeaderMap } from './header-map';
import { routeRequest, type RoutedResponse } from './router';
import type { RequestTrace } from './trace';
import { readBody } from './upstream';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);
/** Bodies past this are refused outright; the emulator buffers whole bodies. */
const HARD_BODY_LIMIT = 64 * 1024 * 1024;

function domainMatches(domain: string, host: string): boolean {
  if (domain === '*') return true;
  const bare = host.replace(/:\d+$/, '');
  if (domain.startsWith('*')) return host.endsWith(domain.slice(1)) || bare.endsWith(domain.slice(1));
  if (domain.endsWith('*')) return host.startsWith(domain.slice(0, -1));
  return domain === host || domain === bare;
}

function matchRoute(model: BootstrapModel, host: string, path: string): { vhost: VirtualHostModel; route: RouteModel } | undefined {
  const vhost = model.virtualHosts.find((v) => v.domains.some((d) => domainMatches(d, host)));
  const route = vhost?.routes.find((r) => (r.match.prefix !== undefined ? path.startsWith(r.match.prefix) : path.split('?')[0] === r.match.path));
  return vhost === undefined || route === undefined ? undefined : { vhost, route };
}

/** The request-header map the HCM builds from an HTTP/1 request (Host becomes :authority). */
function requestHeaderMap(req: http.IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  headers.add(':authority', req.headers.host ?? '');
  headers.add(':path', req.url ?? '/');
  headers.add(':method', req.method ?? 'GET');
  headers.add(':scheme', 'http');
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    if (!HOP_BY_HOP.has(name)) headers.add(name, req.rawHeaders[i + 1] ?? '');
  }
  return headers;
}

export interface DownstreamContext {
  env: EmulatorEnv;
  model: BootstrapModel;
  clusters: Record<string, string>;
  traces: RequestTrace[];
}

/** Handle one downstream request end to end. Never throws; emulator bugs become a 500. */
export async function handleDownstream(ctx: DownstreamContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  let gone = false;
  res.on('close', () => { if (!res.writableFinished) gone = true; });
  const headers = requestHeaderMap(req);
  const body = await readBody(req, HARD_BODY_LIMIT + 1);
  if (!headers.has('x-forwarded-proto')) headers.set('x-forwarded-proto', 'http');
  if (ctx.model.generateRequestId && !headers.has('x-request-id')) headers.set('x-request-id', randomUUID());
  const trace: RequestTrace = { requestId: headers.get('x-request-id') ?? '', method: req.method ?? '', path: req.url ?? '',
    route: undefined, cluster: undefined, attempts: [], dynamicMetadata: {}, final: undefined };
  ctx.traces.push(trace);
  const local = (reply: LocalReply): void => {
    const h = reply.headers.clone();
    h.set(':status', String(reply.status));
    trace.final = { status: reply.status, source: 'local-reply', details: reply.details, headers: h.entries() };
    write(ctx, res, { headers: h, body: reply.body, local: reply, done: () => {} });
  };
  if (body.length > HARD_BODY_LIMIT) return local(localReply(413, 'request_payload_too_large', 'Payload Too Large'));
  const matched = matchRoute(ctx.model, headers.get(':authority') ?? '', headers.get(':path') ?? '/');
  if (matched === undefined) return local(localReply(404, 'route_not_found'));
  const { vhost, route } = matched;
  trace.route = route.name;
  trace.cluster = route.cluster;
  const cluster = ctx.model.clusters.get(route.cluster);
  if (cluster === undefined) return local(localReply(503, 'cluster_not_found'));
  const upstreamUrl = ctx.clusters[route.cluster];
  if (upstreamUrl === undefined) return local(localReply(503, 'no_healthy_upstream', 'no healthy upstream'));
  // Router Filter::decodeHeaders → finalizeRequestHeaders (path rewrite) and setTimeoutHeaders.
  const path = headers.get(':path') ?? '/';
  if (route.prefixRewrite !== undefined && route.match.prefix !== undefined) {
    if (!ctx.model.suppressEnvoyHeaders) headers.set('x-envoy-original-path', path);
    headers.set(':path', route.prefixRewrite + path.slice(route.match.prefix.length));
  }
  if (!ctx.model.suppressEnvoyHeaders && route.timeoutMs > 0) headers.set('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));
  // router.cc Filter::decodeData: past the buffer limit the router gives up on retries.
  const retriesAllowed = body.length <= ctx.model.bufferLimitBytes;
  if (!retriesAllowed && route.retryPolicy !== undefined) ctx.env.stats.inc('retry_or_shadow_abandoned');
  let routed: RoutedResponse;
  const started = Date.now();
  try {
    routed = await routeRequest(ctx.env, { vhost, route, cluster, upstreamUrl, headers, body, retriesAllowed,
      bufferLimitBytes: ctx.model.bufferLimitBytes, trace, downstreamGone: () => gone });
  } catch (error) {
    return local(localReply(500, `emulator_error{${(error as Error).message}}`));
  }
  if (routed.local === undefined && !ctx.model.suppressEnvoyHeaders) {
    routed.headers.set('x-envoy-upstream-service-time', String(Date.now() - started));
  }
  write(ctx, res, routed);
}

function write(ctx: DownstreamContext, res: http.ServerResponse, routed: RoutedResponse): void {
  const status = Number(routed.headers.get(':status') ?? '500');
  const headers = routed.headers.clone();
  // HCM server_header_transformation OVERWRITE (the default).
  headers.set('server', ctx.model.serverName);
  if (Buffer.isBuffer(routed.body)) {
    headers.set('content-length', String(routed.body.length));
    if (routed.local !== undefined && routed.body.length > 0 && !headers.has('content-type')) headers.set('content-type', 'text/plain');
  }
  const flat = headers.entries().filter(([name]) => !name.startsWith(':')).flat();
  if (res.destroyed) {
    routed.done();
    if (!Buffer.isBuffer(routed.body)) routed.body.destroy();
    return;
  }
  res.writeHead(status, flat);
  if (Buffer.isBuffer(routed.body)) {
    res.end(routed.body, () => routed.done());
    return;
  }
  const upstream = routed.body;
  upstream.pipe(res);
  upstream.on('end', () => routed.done());
  upstream.on('error', () => { routed.done(); res.destroy(); });
  res.on('close', () => { if (!upstream.readableEnded) { upstream.destroy(); routed.done(); } });
}
