/**
 * Reads the parts of an Envoy bootstrap (envoy/envoy.yaml) the emulator plays: the first
 * listener's HTTP connection manager (route table, router flags, router upstream_http_filters) and
 * the clusters (endpoint host, upstream ext_proc filter, max_retries circuit breaker).
 * Endpoint addresses and the ext_proc pipe are NOT used: the emulator is told where the scripted
 * upstreams and the ext_proc server listen.
 */
import { parse } from 'yaml';
import { type ExtProcFilterConfig, findExtProcFilters } from './ext-proc-config';
import { parseRetryPolicy, type RetryPolicy } from './retry-policy';
import { anyType, asBool, asDurationMs, asList, asNumber, asObj, asString, asStringList, type Obj } from './yaml-values';

const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
const PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export interface RouteModel {
  name: string;
  match: { prefix?: string; path?: string };
  cluster: string;
  prefixRewrite: string | undefined;
  autoHostRewrite: boolean;
  /** Route timeout; 0 = disabled; Envoy's default is 15s. */
  timeoutMs: number;
  /** The route's retry_policy, else the virtual host's. */
  retryPolicy: RetryPolicy | undefined;
  /** Route + virtual host + route_config response_headers_to_remove. */
  responseHeadersToRemove: string[];
}

export interface VirtualHostModel {
  name: string;
  domains: string[];
  includeRequestAttemptCount: boolean;
  includeAttemptCountInResponse: boolean;
  routes: RouteModel[];
}

export interface ClusterModel {
  name: string;
  /** The first endpoint's host name (what auto_host_rewrite writes into :authority). */
  endpointHost: string | undefined;
  /** The cluster's upstream ext_proc, else the router's upstream_http_filters one, else none. */
  extProc: ExtProcFilterConfig | undefined;
  /** circuit_breakers.thresholds[0].max_retries, default 3 (circuit_breaker.proto). */
  maxRetries: number;
}

export interface BootstrapModel {
  listenerName: string;
  /** Listener per_connection_buffer_limit_bytes (default 1 MiB): the retry body buffer limit. */
  bufferLimitBytes: number;
  statPrefix: string;
  generateRequestId: boolean;
  /** server_name (default "envoy"), written over the response's server header. */
  serverName: string;
  suppressEnvoyHeaders: boolean;
  virtualHosts: VirtualHostModel[];
  clusters: Map<string, ClusterModel>;
}

function hcmOf(listener: Obj, path: string): { hcm: Obj; path: string } {
  const chains = asList(listener['filter_chains'], `${path}.filter_chains`);
  for (const [c, chain] of chains.entries()) {
    const filters = asList(asObj(chain, `${path}.filter_chains[${c}]`)['filters'], `${path}.filter_chains[${c}].filters`);
    for (const [f, filter] of filters.entries()) {
      const typed = asObj(asObj(filter, 'filter')['typed_config'], 'typed_config');
      if (anyType(typed) === HCM_TYPE) return { hcm: typed, path: `${path}.filter_chains[${c}].filters[${f}].typed_config` };
    }
  }
  throw new Error(`${path}: no http_connection_manager found`);
}

function parseRoute(raw: unknown, path: string, vhost: Obj, configRemove: string[]): RouteModel {
  const r = asObj(raw, path);
  const match = asObj(r['match'], `${path}.match`);
  const action = asObj(r['route'], `${path}.route`);
  const prefix = asString(match['prefix'], `${path}.match.prefix`);
  const exact = asString(match['path'], `${path}.match.path`);
  if (prefix === undefined && exact === undefined) throw new Error(`${path}.match: only prefix and path matches are supported`);
  const cluster = asString(action['cluster'], `${path}.route.cluster`);
  if (cluster === undefined) throw new Error(`${path}.route.cluster: required (only single-cluster routes are supported)`);
  return {
    name: asString(r['name'], `${path}.name`) ?? '',
    match: prefix !== undefined ? { prefix } : { path: exact ?? '' },
    cluster,
    prefixRewrite: asString(action['prefix_rewrite'], `${path}.route.prefix_rewrite`),
    autoHostRewrite: asBool(action['auto_host_rewrite'], `${path}.route.auto_host_rewrite`, false),
    timeoutMs: asDurationMs(action['timeout'], `${path}.route.timeout`, 15000),
    retryPolicy: parseRetryPolicy(action['retry_policy'] ?? vhost['retry_policy'], `${path}.route.retry_policy`),
    responseHeadersToRemove: [
      ...asStringList(r['response_headers_to_remove'], `${path}.response_headers_to_remove`),
      ...asStringList(vhost['response_headers_to_remove'], 'virtual_host.response_headers_to_remove'),
      ...configRemove,
    ].map((h) => h.toLowerCase()),
  };
}

function parseCluster(raw: unknown, path: string, routerExtProc: ExtProcFilterConfig | undefined): ClusterModel {
  const c = asObj(raw, path);
  const name = asString(c['name'], `${path}.name`) ?? '';
  const endpoints = asList(asObj(c['load_assignment'], `${path}.load_assignment`)['endpoints'], `${path}.load_assignment.endpoints`);
  const lb = asList(asObj(endpoints[0], `${path}.load_assignment.endpoints[0]`)['lb_endpoints'], 'lb_endpoints');
  const address = asObj(asObj(asObj(lb[0], 'lb_endpoints[0]')['endpoint'], 'endpoint')['address'], 'address');
  const endpointHost = asString(asObj(address['socket_address'], 'socket_address')['address'], `${path}...socket_address.address`);
  const options = asObj(asObj(c['typed_extension_protocol_options'], `${path}.typed_extension_protocol_options`)[PROTOCOL_OPTIONS_KEY],
    `${path}.typed_extension_protocol_options`);
  const filters = findExtProcFilters(options['http_filters'], `${path}.typed_extension_protocol_options.http_filters`);
  const thresholds = asList(asObj(c['circuit_breakers'], `${path}.circuit_breakers`)['thresholds'], `${path}.circuit_breakers.thresholds`);
  return {
    name,
    endpointHost,
    // A cluster's http_filters replace the router's upstream_http_filters (upstream_request.cc
    // UpstreamRequest constructor: cluster chain first, then the router's, then codec only).
    extProc: options['http_filters'] !== undefined ? filters[0] : routerExtProc,
    maxRetries: asNumber(asObj(thresholds[0], `${path}.circuit_breakers.thresholds[0]`)['max_retries'], 'max_retries', 3),
  };
}

/** Parse bootstrap YAML text; `source` names the file in errors. */
export function parseBootstrap(text: string, source: string): BootstrapModel {
  const root = asObj(parse(text), source);
  const resources = asObj(root['static_resources'], `${source}: static_resources`);
  const listeners = asList(resources['listeners'], `${source}: static_resources.listeners`);
  if (listeners.length === 0) throw new Error(`${source}: no listener`);
  const listener = asObj(listeners[0], `${source}: listeners[0]`);
  const { hcm, path: hcmPath } = hcmOf(listener, `${source}: listeners[0]`);
  const httpFilters = asList(hcm['http_filters'], `${hcmPath}.http_filters`).map((f) => asObj(f, 'http_filter'));
  const router = asObj(httpFilters.find((f) => anyType(f['typed_config']) === ROUTER_TYPE)?.['typed_config'], 'router');
  const routerExtProc = findExtProcFilters(router['upstream_http_filters'], `${hcmPath} router.upstream_http_filters`)[0];
  const routeConfig = asObj(hcm['route_config'], `${hcmPath}.route_config`);
  const configRemove = asStringList(routeConfig['response_headers_to_remove'], `${hcmPath}.route_config.response_headers_to_remove`);
  const virtualHosts = asList(routeConfig['virtual_hosts'], `${hcmPath}.route_config.virtual_hosts`).map((raw, v) => {
    const vhost = asObj(raw, `virtual_hosts[${v}]`);
    const vpath = `${hcmPath}.route_config.virtual_hosts[${v}]`;
    return {
      name: asString(vhost['name'], `${vpath}.name`) ?? '',
      domains: asStringList(vhost['domains'], `${vpath}.domains`),
      includeRequestAttemptCount: asBool(vhost['include_request_attempt_count'], `${vpath}.include_request_attempt_count`, false),
      includeAttemptCountInResponse: asBool(vhost['include_attempt_count_in_response'], `${vpath}.include_attempt_count_in_response`, false),
      routes: asList(vhost['routes'], `${vpath}.routes`).map((r, i) => parseRoute(r, `${vpath}.routes[${i}]`, vhost, configRemove)),
    };
  });
  const clusters = new Map<string, ClusterModel>();
  for (const [i, raw] of asList(resources['clusters'], `${source}: static_resources.clusters`).entries()) {
    const cluster = parseCluster(raw, `${source}: clusters[${i}]`, routerExtProc);
    clusters.set(cluster.name, cluster);
  }
  return {
    listenerName: asString(listener['name'], 'listener.name') ?? '',
    bufferLimitBytes: asNumber(listener['per_connection_buffer_limit_bytes'], 'per_connection_buffer_limit_bytes', 1024 * 1024),
    statPrefix: asString(hcm['stat_prefix'], `${hcmPath}.stat_prefix`) ?? '',
    generateRequestId: asBool(hcm['generate_request_id'], `${hcmPath}.generate_request_id`, true),
    serverName: asString(hcm['server_name'], `${hcmPath}.server_name`) ?? 'envoy',
    suppressEnvoyHeaders: asBool(router['suppress_envoy_headers'], 'router.suppress_envoy_headers', false),
    virtualHosts,
    clusters,
  };
}
