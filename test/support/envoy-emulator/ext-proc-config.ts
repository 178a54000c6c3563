/**
 * The parts of envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor the emulator honours,
 * read from an upstream http_filters entry. Defaults follow ext_proc.proto / processing_mode.proto:
 * headers SEND, bodies NONE, trailers SKIP, message_timeout 200ms, failure_mode_allow false.
 */
import { asBool, asDurationMs, asList, asNumber, asObj, asString, asStringList, type Obj } from './yaml-values';

export const EXT_PROC_TYPE = 'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';

export type HeaderSendMode = 'SEND' | 'SKIP';
export type BodySendMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';

/**
 * A ProcessingMode as written, DEFAULT kept: mode_override and allowed_override_modes work on
 * these values (ext_proc.cc effectiveModeOverride compares enum values, not resolved modes).
 */
export interface ProcessingModeProto {
  request_header_mode: HeaderSendMode | 'DEFAULT';
  response_header_mode: HeaderSendMode | 'DEFAULT';
  request_body_mode: BodySendMode;
  response_body_mode: BodySendMode;
  request_trailer_mode: HeaderSendMode | 'DEFAULT';
  response_trailer_mode: HeaderSendMode | 'DEFAULT';
}

/** A ProcessingMode with DEFAULT resolved (what the filter acts on). */
export interface ProcessingMode {
  requestHeaderMode: HeaderSendMode;
  responseHeaderMode: HeaderSendMode;
  requestBodyMode: BodySendMode;
  responseBodyMode: BodySendMode;
  requestTrailerMode: HeaderSendMode;
  responseTrailerMode: HeaderSendMode;
}

/** HeaderMutationRules (config/common/mutation_rules/v3); all default false. */
export interface MutationRules {
  allowAllRouting: boolean;
  allowEnvoy: boolean;
  disallowSystem: boolean;
  disallowAll: boolean;
  disallowIsError: boolean;
  allowExpression?: RegExp;
  disallowExpression?: RegExp;
}

export interface ExtProcFilterConfig {
  filterName: string;
  statPrefix: string;
  /** grpc_service.envoy_grpc.cluster_name; the emulator dials its extProcAddress instead. */
  grpcClusterName: string | undefined;
  failureModeAllow: boolean;
  messageTimeoutMs: number;
  processingMode: ProcessingMode;
  /** processing_mode as written: the base mode_override is applied to. */
  processingModeProto: ProcessingModeProto;
  requestAttributes: string[];
  responseAttributes: string[];
  forwardingNamespaces: string[];
  receivingNamespaces: string[];
  mutationRules: MutationRules;
  allowModeOverride: boolean;
  /** allowed_override_modes (Envoy >= 1.32, PR #36279); empty = any override is allowed. */
  allowedOverrideModes: ProcessingModeProto[];
  disableImmediateResponse: boolean;
  /** status_on_error (Envoy >= 1.36), default 500. */
  statusOnError: number;
}

function headerMode(value: unknown, path: string): HeaderSendMode | 'DEFAULT' {
  const mode = asString(value, path) ?? 'DEFAULT';
  if (mode === 'DEFAULT' || mode === 'SEND' || mode === 'SKIP') return mode;
  throw new Error(`${path}: unknown header send mode ${mode}`);
}

function bodyMode(value: unknown, path: string): BodySendMode {
  const mode = asString(value, path) ?? 'NONE';
  if (mode === 'NONE' || mode === 'STREAMED' || mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL') return mode;
  throw new Error(`${path}: body send mode ${mode} is not supported by the emulator`);
}

/** processing_mode, an allowed_override_modes entry or a ProcessingResponse.mode_override, as written. */
export function parseProcessingModeProto(raw: unknown, path: string): ProcessingModeProto {
  const o = asObj(raw, path);
  return {
    request_header_mode: headerMode(o['request_header_mode'], `${path}.request_header_mode`),
    response_header_mode: headerMode(o['response_header_mode'], `${path}.response_header_mode`),
    request_body_mode: bodyMode(o['request_body_mode'], `${path}.request_body_mode`),
    response_body_mode: bodyMode(o['response_body_mode'], `${path}.response_body_mode`),
    request_trailer_mode: headerMode(o['request_trailer_mode'], `${path}.request_trailer_mode`),
    response_trailer_mode: headerMode(o['response_trailer_mode'], `${path}.response_trailer_mode`),
  };
}

/**
 * processor_state.cc setProcessingModeInternal: headers are sent unless SKIP, trailers only when
 * SEND (so DEFAULT means SEND for headers and SKIP for trailers).
 */
export function resolveProcessingMode(p: ProcessingModeProto): ProcessingMode {
  const header = (m: HeaderSendMode | 'DEFAULT'): HeaderSendMode => (m === 'SKIP' ? 'SKIP' : 'SEND');
  const trailer = (m: HeaderSendMode | 'DEFAULT'): HeaderSendMode => (m === 'SEND' ? 'SEND' : 'SKIP');
  return {
    requestHeaderMode: header(p.request_header_mode),
    responseHeaderMode: header(p.response_header_mode),
    requestBodyMode: p.request_body_mode,
    responseBodyMode: p.response_body_mode,
    requestTrailerMode: trailer(p.request_trailer_mode),
    responseTrailerMode: trailer(p.response_trailer_mode),
  };
}

function regex(raw: unknown, path: string): RegExp | undefined {
  const source = asString(asObj(raw, path)['regex'], `${path}.regex`);
  // RE2 full-match semantics, approximated with an anchored JavaScript RegExp.
  return source === undefined ? undefined : new RegExp(`^(?:${source})$`);
}

function parseMutationRules(raw: unknown, path: string): MutationRules {
  const o = asObj(raw, path);
  const rules: MutationRules = {
    allowAllRouting: asBool(o['allow_all_routing'], `${path}.allow_all_routing`, false),
    allowEnvoy: asBool(o['allow_envoy'], `${path}.allow_envoy`, false),
    disallowSystem: asBool(o['disallow_system'], `${path}.disallow_system`, false),
    disallowAll: asBool(o['disallow_all'], `${path}.disallow_all`, false),
    disallowIsError: asBool(o['disallow_is_error'], `${path}.disallow_is_error`, false),
  };
  const allow = regex(o['allow_expression'], `${path}.allow_expression`);
  const disallow = regex(o['disallow_expression'], `${path}.disallow_expression`);
  if (allow !== undefined) rules.allowExpression = allow;
  if (disallow !== undefined) rules.disallowExpression = disallow;
  return rules;
}

/** Parse one ExternalProcessor typed_config (`path` names it in errors). */
export function parseExtProcConfig(filterName: string, typed: Obj, path: string): ExtProcFilterConfig {
  if (asBool(typed['observability_mode'], `${path}.observability_mode`, false)) {
    throw new Error(`${path}.observability_mode: not supported by the emulator`);
  }
  const grpcService = asObj(typed['grpc_service'], `${path}.grpc_service`);
  const metadata = asObj(typed['metadata_options'], `${path}.metadata_options`);
  const statusOnError = asObj(typed['status_on_error'], `${path}.status_on_error`);
  const processingModeProto = parseProcessingModeProto(typed['processing_mode'], `${path}.processing_mode`);
  return {
    filterName,
    statPrefix: asString(typed['stat_prefix'], `${path}.stat_prefix`) ?? '',
    grpcClusterName: asString(asObj(grpcService['envoy_grpc'], `${path}.grpc_service.envoy_grpc`)['cluster_name'],
      `${path}.grpc_service.envoy_grpc.cluster_name`),
    failureModeAllow: asBool(typed['failure_mode_allow'], `${path}.failure_mode_allow`, false),
    messageTimeoutMs: asDurationMs(typed['message_timeout'], `${path}.message_timeout`, 200),
    processingMode: resolveProcessingMode(processingModeProto),
    processingModeProto,
    requestAttributes: asStringList(typed['request_attributes'], `${path}.request_attributes`),
    responseAttributes: asStringList(typed['response_attributes'], `${path}.response_attributes`),
    forwardingNamespaces: asStringList(asObj(metadata['forwarding_namespaces'], `${path}.metadata_options.forwarding_namespaces`)['untyped'],
      `${path}.metadata_options.forwarding_namespaces.untyped`),
    receivingNamespaces: asStringList(asObj(metadata['receiving_namespaces'], `${path}.metadata_options.receiving_namespaces`)['untyped'],
      `${path}.metadata_options.receiving_namespaces.untyped`),
    mutationRules: parseMutationRules(typed['mutation_rules'], `${path}.mutation_rules`),
    allowModeOverride: asBool(typed['allow_mode_override'], `${path}.allow_mode_override`, false),
    allowedOverrideModes: asList(typed['allowed_override_modes'], `${path}.allowed_override_modes`)
      .map((m, i) => parseProcessingModeProto(m, `${path}.allowed_override_modes[${i}]`)),
    disableImmediateResponse: asBool(typed['disable_immediate_response'], `${path}.disable_immediate_response`, false),
    statusOnError: asNumber(statusOnError['code'], `${path}.status_on_error.code`, 500),
  };
}

/** Every ExternalProcessor in an http_filters list (upstream chains hold at most one in practice). */
export function findExtProcFilters(filters: unknown, path: string): ExtProcFilterConfig[] {
  return asList(filters, path).flatMap((entry, i) => {
    const filter = asObj(entry, `${path}[${i}]`);
    const typed = asObj(filter['typed_config'], `${path}[${i}].typed_config`);
    const type = asString(typed['@type'], `${path}[${i}].typed_config.@type`) ?? '';
    if (!type.endsWith(EXT_PROC_TYPE)) return [];
    return [parseExtProcConfig(asString(filter['name'], `${path}[${i}].name`) ?? '', typed, `${path}[${i}].typed_config`)];
  });
}
