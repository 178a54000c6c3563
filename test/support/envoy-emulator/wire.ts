/**
 * The ext_proc wire messages as JavaScript objects, in the shape @grpc/proto-loader produces with
 * the contract options {keepCase, longs: String, enums: String, defaults: false, oneofs: true}
 * (bytes are Buffers, enums are names, unset fields are absent). Only the fields the emulator
 * reads or writes are declared; the official protos (test/support/official-protos.ts) define them.
 *
 * Also: small helpers between google.protobuf.Struct and plain JSON values.
 */

export interface PbValue {
  nullValue?: string;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: PbStruct;
  listValue?: { values?: PbValue[] };
  kind?: string;
}
export interface PbStruct {
  fields?: Record<string, PbValue>;
}
export interface PbHeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}
export interface PbHeaderMap {
  headers?: PbHeaderValue[];
}
export interface PbHeaderValueOption {
  header?: PbHeaderValue;
  /** google.protobuf.BoolValue; the only append flag ext_proc reads. */
  append?: { value?: boolean };
  /** Ignored by ext_proc (mutation_utils.cc reads only `append`), kept to prove that. */
  append_action?: string | number;
  keep_empty_value?: boolean;
}
export interface PbHeaderMutation {
  set_headers?: PbHeaderValueOption[];
  remove_headers?: string[];
}
export interface PbBodyMutation {
  body?: Buffer | Uint8Array;
  clear_body?: boolean;
}
export interface PbCommonResponse {
  status?: string | number;
  header_mutation?: PbHeaderMutation;
  body_mutation?: PbBodyMutation;
  clear_route_cache?: boolean;
}
export interface PbHeadersResponse {
  response?: PbCommonResponse;
}
export interface PbImmediateResponse {
  status?: { code?: string | number };
  headers?: PbHeaderMutation;
  body?: Buffer | Uint8Array | string;
  details?: string;
}
export interface PbProcessingMode {
  request_header_mode?: string;
  response_header_mode?: string;
  request_body_mode?: string;
  response_body_mode?: string;
  request_trailer_mode?: string;
  response_trailer_mode?: string;
}
export interface PbProcessingResponse {
  request_headers?: PbHeadersResponse;
  response_headers?: PbHeadersResponse;
  request_body?: PbHeadersResponse;
  response_body?: PbHeadersResponse;
  request_trailers?: unknown;
  response_trailers?: unknown;
  immediate_response?: PbImmediateResponse;
  dynamic_metadata?: PbStruct;
  mode_override?: PbProcessingMode;
  override_message_timeout?: unknown;
  /** The oneof's virtual field (oneofs: true) when decoded; optional when encoding. */
  response?: string;
}
export interface PbHttpHeaders {
  headers?: PbHeaderMap;
  end_of_stream?: boolean;
}
export interface PbHttpBody {
  body?: Buffer | Uint8Array;
  end_of_stream?: boolean;
}
export interface PbProcessingRequest {
  request_headers?: PbHttpHeaders;
  response_headers?: PbHttpHeaders;
  request_body?: PbHttpBody;
  response_body?: PbHttpBody;
  metadata_context?: { filter_metadata?: Record<string, PbStruct> };
  attributes?: Record<string, PbStruct>;
  observability_mode?: boolean;
  /** The oneof's virtual field (oneofs: true) when decoded. */
  request?: string;
}

/** The ProcessingRequest/ProcessingResponse oneof cases the emulator sends and expects back. */
export type MessageKind = 'request_headers' | 'response_headers' | 'request_body' | 'response_body';

/** Attribute map key Envoy uses for ext_proc attributes (ext_proc.cc Filter::addAttributes). */
export const ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A plain JSON value as a google.protobuf.Value. */
export function toPbValue(value: JsonValue): PbValue {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toPbValue) } };
  return { structValue: toPbStruct(value) };
}

/** A plain JSON object as a google.protobuf.Struct. */
export function toPbStruct(object: { [key: string]: JsonValue }): PbStruct {
  const fields: Record<string, PbValue> = {};
  for (const [key, value] of Object.entries(object)) fields[key] = toPbValue(value);
  return { fields };
}

/** A google.protobuf.Value as plain JSON (unset kinds read as null). */
export function fromPbValue(value: PbValue | undefined): JsonValue {
  if (value === undefined) return null;
  if (value.structValue !== undefined) return fromPbStruct(value.structValue);
  if (value.listValue !== undefined) return (value.listValue.values ?? []).map(fromPbValue);
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.boolValue !== undefined) return value.boolValue;
  return null;
}

/** A google.protobuf.Struct as a plain JSON object. */
export function fromPbStruct(struct: PbStruct | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromPbValue(value);
  return out;
}

/** Which oneof case a ProcessingResponse carries (decoded or hand-built). */
export function responseCase(response: PbProcessingResponse): string | undefined {
  if (typeof response.response === 'string') return response.response;
  const cases = ['request_headers', 'response_headers', 'request_body', 'response_body',
    'request_trailers', 'response_trailers', 'immediate_response'] as const;
  return cases.find((name) => response[name] !== undefined && response[name] !== null);
}
