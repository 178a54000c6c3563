// envoy/envoy.yaml is checked twice: strictly against the official Bootstrap proto (every key,
// enum name and "@type" known to the pinned data-plane-api copy), then for the settings keyswitch
// depends on. Each assertion cites the Envoy source file it relies on.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import * as YAML from 'yaml';
import { officialRoot } from '../support/official-protos';
import { walkMessage } from '../support/proto-walk';
import { repoPath } from '../support/repo-files';

// Every file whose types envoy.yaml names in an "@type"; Bootstrap pulls in the rest.
const OFFICIAL_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/upstream_codec/v3/upstream_codec.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const HPO_TYPE = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const EXT_PROC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const LLM_CLUSTERS = ['llm_openai', 'llm_anthropic'];

const root = officialRoot(OFFICIAL_FILES);
const text = fs.readFileSync(repoPath('envoy', 'envoy.yaml'), 'utf8');
const doc = YAML.parseDocument(text, { uniqueKeys: true, strict: true });
const config = doc.toJS() as Bootstrap;

function problemsOf(value: unknown): string[] {
  return walkMessage(root, BOOTSTRAP, value);
}

// ---- the parts of the Bootstrap this test reads (the walker has already proved the shape) ----
interface Filter { name: string; typed_config: Record<string, unknown> & { '@type': string } }
interface ExtProc {
  grpc_service: { envoy_grpc: { cluster_name: string } };
  failure_mode_allow?: boolean;
  message_timeout?: string;
  stat_prefix?: string;
  processing_mode: Record<string, string>;
  request_attributes?: string[];
  metadata_options: { forwarding_namespaces: { untyped: string[] }; receiving_namespaces: { untyped: string[] } };
  mutation_rules?: Record<string, unknown>;
  allow_mode_override?: boolean;
}
interface HttpProtocolOptions {
  '@type': string;
  http_filters?: Filter[];
  explicit_http_config?: { http2_protocol_options?: { connection_keepalive?: unknown } };
}
interface Cluster {
  name: string;
  circuit_breakers?: { thresholds: Record<string, number>[] };
  typed_extension_protocol_options?: Record<string, HttpProtocolOptions>;
  load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { pipe?: { path: string } } } }[] }[] };
}
interface RetryPolicy {
  retry_on: string;
  num_retries?: number;
  retriable_headers?: { name: string; string_match?: { exact?: string } }[];
  rate_limited_retry_back_off?: unknown;
  retry_back_off?: { base_interval: string; max_interval?: string };
}
interface Route {
  match: { prefix?: string };
  response_headers_to_remove?: string[];
  route: { cluster: string; timeout?: string; prefix_rewrite?: string; retry_policy?: RetryPolicy };
}
interface VirtualHost { include_request_attempt_count?: boolean; retry_policy?: RetryPolicy; routes: Route[] }
interface Bootstrap {
  static_resources: {
    listeners: { name: string; per_connection_buffer_limit_bytes?: number;
      filter_chains: { filters: { typed_config: { route_config: { virtual_hosts: VirtualHost[] } } }[] }[] }[];
    clusters: Cluster[];
  };
}

function cluster(name: string): Cluster {
  const found = config.static_resources.clusters.find((c) => c.name === name);
  assert.ok(found, `cluster ${name} exists`);
  return found;
}
function upstreamFilters(name: string): Filter[] {
  const options = cluster(name).typed_extension_protocol_options?.[HPO_TYPE];
  assert.ok(options?.http_filters, `${name} has HttpProtocolOptions.http_filters`);
  return options.http_filters;
}
function extProc(name: string): ExtProc {
  const filter = upstreamFilters(name).find((f) => f.typed_config['@type'] === EXT_PROC_TYPE);
  assert.ok(filter, `${name} has an upstream ext_proc filter`);
  return filter.typed_config as unknown as ExtProc;
}
function listener(): Bootstrap['static_resources']['listeners'][number] {
  const found = config.static_resources.listeners.find((l) => l.name === 'keyswitch_gateway');
  assert.ok(found, 'listener keyswitch_gateway exists');
  return found;
}
function routes(): { vhost: VirtualHost; route: Route }[] {
  return listener().filter_chains.flatMap((fc) => fc.filters).flatMap((f) =>
    f.typed_config.route_config.virtual_hosts.flatMap((vhost) => vhost.routes.map((route) => ({ vhost, route }))));
}
/** Route retry policies override the virtual host's, so take the route's first. */
function retryPolicyOf(vhost: VirtualHost, route: Route): RetryPolicy {
  const policy = route.route.retry_policy ?? vhost.retry_policy;
  assert.ok(policy, `route ${route.match.prefix} has a retry_policy`);
  return policy;
}
function durationSeconds(d: string): number {
  return Number(d.replace(/s$/, ''));
}

describe('envoy/envoy.yaml is a valid Bootstrap for the pinned official protos', () => {
  it('parses as YAML without errors, warnings or duplicate keys', () => {
    assert.deepEqual([...doc.errors, ...doc.warnings].map((e) => e.message), []);
  });

  it('has no unknown field, enum name, type, "@type" or oneof conflict', () => {
    assert.deepEqual(problemsOf(config), []);
  });

  it('keys typed_extension_protocol_options by the type it holds', () => {
    for (const c of config.static_resources.clusters) {
      for (const [key, options] of Object.entries(c.typed_extension_protocol_options ?? {})) {
        assert.equal(options['@type'], `type.googleapis.com/${key}`, `${c.name}: ${key}`);
      }
    }
  });
});

describe('envoy/envoy.yaml has the settings keyswitch depends on', () => {
  it('the access log prints what keyswitch wrote in its metadata namespace, and no credential', () => {
    // %DYNAMIC_METADATA(ns:key)% reads the downstream request's metadata, where the upstream
    // filter's writes land (upstream_request.cc UpstreamFilterManager::streamInfo).
    const hcm = listener().filter_chains[0]!.filters[0]!.typed_config as { access_log?: Array<{ typed_config: Record<string, any> }> };
    const logger = hcm.access_log?.[0]?.typed_config;
    assert.equal(logger?.['@type'], 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog');
    const format = logger!.log_format.json_format as Record<string, string>;
    for (const key of ['pool', 'account', 'tried', 'unreached', 'decision', 'class', 'cause']) {
      assert.equal(format[`keyswitch_${key}`], `%DYNAMIC_METADATA(keyswitch:${key})%`, key);
    }
    const printed = Object.values(format).join(' ').toLowerCase();
    for (const header of ['authorization', 'x-api-key', 'api-key']) assert.ok(!printed.includes(`req(${header})`), header);
  });

  for (const name of LLM_CLUSTERS) {
    it(`${name}: upstream ext_proc first, upstream_codec last`, () => {
      // Cluster http_filters replace the router's upstream_http_filters, and the chain must end
      // with the codec (upstream_request.cc UpstreamRequest constructor, http_protocol_options.proto).
      const filters = upstreamFilters(name);
      assert.equal(filters[0]?.typed_config['@type'], EXT_PROC_TYPE);
      assert.equal(filters.at(-1)?.name, 'envoy.filters.http.upstream_codec');
      assert.equal(filters.at(-1)?.typed_config['@type'],
        'type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec');
    });

    it(`${name}: ext_proc talks to keyswitch and fails closed within 200ms`, () => {
      const ep = extProc(name);
      assert.equal(ep.grpc_service.envoy_grpc.cluster_name, 'keyswitch');
      // Fail open would send the request on without a credential (ext_proc.proto failure_mode_allow).
      assert.equal(ep.failure_mode_allow, false);
      assert.equal(ep.message_timeout, '0.2s');
      assert.equal(ep.stat_prefix, 'keyswitch');
    });

    it(`${name}: processing_mode sends headers only`, () => {
      // Response headers must reach keyswitch to add the retry marker; the router reads the
      // post-filter headers (upstream_request.cc UpstreamRequest::decodeHeaders). Bodies stay off
      // upstream (ai-gateway PR #814: upstream body processing crashed Envoy).
      assert.deepEqual(extProc(name).processing_mode, {
        request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'NONE',
        response_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP',
      });
    });

    it(`${name}: request_attributes and the keyswitch metadata namespace`, () => {
      const ep = extProc(name);
      // Sent on the first message of each stream (ext_proc.cc Filter::addAttributes; attributes.rst).
      for (const attr of ['request.id', 'upstream.request_attempt_count', 'xds.route_name', 'xds.cluster_name']) {
        assert.ok(ep.request_attributes?.includes(attr), attr);
      }
      // Metadata is per downstream request, so attempt N+1 reads what attempt N wrote
      // (UpstreamFilterManager::streamInfo); unlisted receiving namespaces are dropped
      // (ext_proc.cc Filter::setDynamicMetadata).
      assert.ok(ep.metadata_options.forwarding_namespaces.untyped.includes('keyswitch'));
      assert.ok(ep.metadata_options.receiving_namespaces.untyped.includes('keyswitch'));
    });

    it(`${name}: ext_proc may change x-envoy-ratelimited and no other x-envoy header`, () => {
      // x-envoy-ratelimited on a response ends wouldRetryFromHeaders before retriable_headers are
      // read (retry_state_impl.cc), so keyswitch must be able to remove it. mutation_rules.cc
      // Checker::isAllowed checks allow_expression (an RE2 full match, regex.h
      // CompiledGoogleReMatcher::match) before the x-envoy rule; nothing else is relaxed.
      const rules = extProc(name).mutation_rules;
      assert.deepEqual(rules, { allow_expression: { regex: '^x-envoy-ratelimited$' } });
      const allowed = new RegExp(`^(?:${String((rules?.['allow_expression'] as { regex: string }).regex)})$`);
      assert.ok(allowed.test('x-envoy-ratelimited'));
      for (const other of ['x-envoy-ratelimited-by', 'x-x-envoy-ratelimited', 'x-envoy-attempt-count', 'x-envoy-retry-on', 'host', ':authority']) {
        assert.ok(!allowed.test(other), other);
      }
    });

    it(`${name}: allow_mode_override, for pools that classify error bodies`, () => {
      // Without it a mode_override in keyswitch's response_headers reply is ignored
      // (ext_proc.cc Filter::onReceiveMessage), and the error body never reaches keyswitch.
      assert.equal(extProc(name).allow_mode_override, true);
    });

    it(`${name}: max_retries circuit breaker raised above the default 3`, () => {
      // circuit_breaker.proto max_retries "default is 3"; overflow silently skips the retry.
      const thresholds = cluster(name).circuit_breakers?.thresholds ?? [];
      assert.ok(thresholds.some((t) => (t['max_retries'] ?? 0) > 3));
    });
  }

  it('routes send each prefix to its cluster', () => {
    const byPrefix = new Map(routes().map(({ route }) => [route.match.prefix, route.route]));
    assert.equal(byPrefix.get('/anthropic/')?.cluster, 'llm_anthropic');
    assert.equal(byPrefix.get('/anthropic/')?.prefix_rewrite, '/');
    assert.equal(byPrefix.get('/')?.cluster, 'llm_openai');
    // Route order matters: the catch-all must come last.
    assert.equal(routes().at(-1)?.route.match.prefix, '/');
  });

  for (const { vhost, route } of routes()) {
    const label = `route ${route.match.prefix}`;
    it(`${label}: retries on the keyswitch marker, without rate-limited backoff`, () => {
      const policy = retryPolicyOf(vhost, route);
      // retriable_headers are only consulted with retriable-headers in retry_on
      // (retry_state_impl.cc wouldRetryFromHeaders).
      assert.ok(policy.retry_on.split(',').map((s) => s.trim()).includes('retriable-headers'));
      assert.ok(policy.retriable_headers?.some((h) => h.name === 'x-keyswitch-failover' && h.string_match?.exact === 'retry'));
      // num_retries 0 would never fail over (retry_state_impl.cc shouldRetry).
      assert.ok((policy.num_retries ?? 1) >= 1);
      // It would wait out the failed account's Retry-After before trying the next account
      // (retry_state_impl.cc shouldRetryHeaders).
      assert.equal(policy.rate_limited_retry_back_off, undefined);
      assert.ok(policy.retry_back_off && durationSeconds(policy.retry_back_off.base_interval) <= 0.05);
    });

    it(`${label}: strips the marker, disables the 15s route timeout`, () => {
      // finalizeResponseHeaders runs after the retry decision, on the final response only (router.cc).
      assert.ok(route.response_headers_to_remove?.includes('x-keyswitch-failover'));
      // The route timeout covers all attempts and defaults to 15s (route_components.proto timeout).
      assert.equal(route.route.timeout, '0s');
    });
  }

  it('clients cannot steer retries: x-envoy retry headers are removed before the router', () => {
    // The router honours x-envoy-retry-on / x-envoy-max-retries on requests Envoy deems internal
    // (header_sanitizing.rst; router.rst "HTTP headers (consumed)"), and x-forwarded-for decides that.
    const filters = listener().filter_chains.flatMap((fc) => fc.filters).flatMap((f) => (f.typed_config as any).http_filters ?? []);
    const names = filters.map((f: { name: string }) => f.name);
    assert.equal(names.at(-1), 'envoy.filters.http.router');
    const mutation = filters.find((f: { name: string }) => f.name === 'envoy.filters.http.header_mutation');
    assert.ok(mutation, 'a header_mutation filter runs before the router');
    const removed = (mutation.typed_config.mutations.request_mutations as { remove?: string }[]).map((m) => m.remove);
    for (const header of ['x-envoy-retry-on', 'x-envoy-retry-grpc-on', 'x-envoy-max-retries', 'x-envoy-retriable-status-codes', 'x-envoy-retriable-header-names']) {
      assert.ok(removed.includes(header), header);
    }
  });

  it('virtual host sends x-envoy-attempt-count', () => {
    // router.cc Filter::decodeHeaders / doRetry set it on every attempt.
    for (const { vhost } of routes()) assert.equal(vhost.include_request_attempt_count, true);
  });

  it('listener buffers request bodies up to 32 MiB for retries', () => {
    // Bodies over the buffer limit abandon retries (router.cc Filter::decodeData,
    // retry_or_shadow_abandoned); route request_body_buffer_limit is unknown to the pinned protos.
    assert.ok((listener().per_connection_buffer_limit_bytes ?? 0) >= 32 * 1024 * 1024);
  });

  it('keyswitch cluster is a unix pipe speaking HTTP/2 with raised limits', () => {
    const ks = cluster('keyswitch');
    const endpoints = ks.load_assignment.endpoints.flatMap((e) => e.lb_endpoints);
    assert.ok(endpoints.length > 0);
    for (const e of endpoints) assert.ok(e.endpoint.address.pipe?.path.endsWith('.sock'), 'pipe address');
    const http2 = ks.typed_extension_protocol_options?.[HPO_TYPE]?.explicit_http_config?.http2_protocol_options;
    assert.ok(http2, 'gRPC needs explicit HTTP/2');
    assert.ok(http2.connection_keepalive, 'keepalive pings');
    // One ext_proc stream per in-flight attempt: the 1024 max_requests default would cap traffic.
    const thresholds = ks.circuit_breakers?.thresholds ?? [];
    assert.ok(thresholds.some((t) => (t['max_requests'] ?? 0) > 1024 && (t['max_pending_requests'] ?? 0) > 1024));
  });
});

describe('the Bootstrap walker reports mistakes', () => {
  const HPO_PATH = `static_resources.clusters[0].typed_extension_protocol_options[${JSON.stringify(HPO_TYPE)}]`;
  const EXT_PROC_PATH = `${HPO_PATH}.http_filters[0].typed_config`;

  function mutated(edit: (c: Bootstrap & Record<string, unknown>, ep: Record<string, unknown>) => void): string[] {
    const copy = structuredClone(config) as Bootstrap & Record<string, unknown>;
    const ep = copy.static_resources.clusters[0]?.typed_extension_protocol_options?.[HPO_TYPE]?.http_filters?.[0]?.typed_config;
    assert.ok(ep && ep['@type'] === EXT_PROC_TYPE, 'first cluster starts with ext_proc');
    edit(copy, ep);
    return problemsOf(copy);
  }

  it('names an unknown top-level field', () => {
    const problems = mutated((c) => { c['static_resource'] = {}; });
    assert.ok(problems.some((p) => p.startsWith('static_resource: unknown field')), problems.join('\n'));
  });

  it('names an unknown field inside an "@type" Any', () => {
    const problems = mutated((_c, ep) => { ep['failure_mode_alow'] = true; });
    assert.ok(problems.some((p) => p.startsWith(`${EXT_PROC_PATH}.failure_mode_alow: unknown field`)), problems.join('\n'));
  });

  it('names newer fields the pinned protos lack (why envoy.yaml does not use them)', () => {
    const problems = mutated((c, ep) => {
      ep['status_on_error'] = { code: 'ServiceUnavailable' }; // ext_proc, Envoy >= 1.36
      ep['allowed_override_modes'] = [{ response_body_mode: 'BUFFERED' }]; // ext_proc, Envoy >= 1.32
      const route = c.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config.route_config.virtual_hosts[0]?.routes[0];
      assert.ok(route);
      (route as unknown as Record<string, unknown>)['request_body_buffer_limit'] = 33554432; // Route, Envoy >= 1.36
    });
    assert.ok(problems.some((p) => p.startsWith(`${EXT_PROC_PATH}.status_on_error: unknown field`)), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith(`${EXT_PROC_PATH}.allowed_override_modes: unknown field`)), problems.join('\n'));
    assert.ok(problems.some((p) => p.endsWith('routes[0].request_body_buffer_limit: unknown field of envoy.config.route.v3.Route')), problems.join('\n'));
  });

  it('names an unknown enum value', () => {
    const problems = mutated((_c, ep) => { (ep['processing_mode'] as Record<string, string>)['response_header_mode'] = 'SENDD'; });
    assert.ok(problems.some((p) => p.startsWith(`${EXT_PROC_PATH}.processing_mode.response_header_mode: string "SENDD" is not a value name`)), problems.join('\n'));
  });

  it('names an unknown "@type", a malformed Duration and a oneof conflict', () => {
    const problems = mutated((c, ep) => {
      ep['message_timeout'] = 200;
      const upstreamCodec = c.static_resources.clusters[0]?.typed_extension_protocol_options?.[HPO_TYPE]?.http_filters?.[1];
      assert.ok(upstreamCodec);
      upstreamCodec.typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodecs';
      const options = c.static_resources.clusters[0]?.typed_extension_protocol_options?.[HPO_TYPE] as unknown as Record<string, unknown>;
      options['explicit_http_config'] = { http2_protocol_options: {} };
    });
    assert.ok(problems.some((p) => p.startsWith(`${EXT_PROC_PATH}.message_timeout: expected a Duration`)), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith(`${HPO_PATH}.http_filters[1].typed_config.@type: unknown message type`)), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith(`${HPO_PATH}: oneof envoy.extensions.upstreams.http.v3.HttpProtocolOptions.upstream_protocol_options`)), problems.join('\n'));
  });
});
