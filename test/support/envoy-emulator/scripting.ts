/**
 * Helpers for tests that script an ext_proc server against the emulator: build ProcessingResponses
 * (header mutations in raw_value, as Envoy >= 1.32 reads them) and read ProcessingRequests.
 */
import { ATTRIBUTES_KEY, fromPbStruct, type JsonValue, type PbCommonResponse, type PbHeaderMutation, type PbHeaderValueOption,
  type PbProcessingMode, type PbProcessingRequest, type PbProcessingResponse, type PbStruct, toPbStruct } from './wire';

/** A set_headers entry carrying raw_value only (append unset = overwrite). */
export function setRaw(key: string, value: string, extra: Partial<PbHeaderValueOption> = {}): PbHeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'latin1') }, ...extra };
}

/** A headers response (request_headers / response_headers) with an optional mutation. */
export function headersResponse(kind: 'request_headers' | 'response_headers', mutation: PbHeaderMutation = {},
  extra: Partial<PbProcessingResponse> = {}): PbProcessingResponse {
  return { [kind]: { response: { header_mutation: mutation } }, ...extra };
}

/**
 * A body response (request_body / response_body). In BUFFERED / BUFFERED_PARTIAL modes its
 * header_mutation changes the headers the filter still holds (for response_body: before the
 * router's retry decision). `common`: the rest of the CommonResponse (e.g. body_mutation);
 * `extra`: other ProcessingResponse fields (e.g. dynamic_metadata).
 */
export function bodyResponse(kind: 'request_body' | 'response_body', mutation: PbHeaderMutation = {},
  common: Omit<PbCommonResponse, 'header_mutation'> = {}, extra: Partial<PbProcessingResponse> = {}): PbProcessingResponse {
  return { [kind]: { response: { header_mutation: mutation, ...common } }, ...extra };
}

/** ProcessingResponse.mode_override; unset header modes are DEFAULT (keep the configured mode). */
export function modeOverride(mode: PbProcessingMode): Partial<PbProcessingResponse> {
  return { mode_override: mode };
}

/** ProcessingResponse.dynamic_metadata from plain JSON: { namespace: { key: value } }. */
export function dynamicMetadata(namespaces: { [ns: string]: { [key: string]: JsonValue } }): PbStruct {
  return toPbStruct(namespaces);
}

/** Header value from a ProcessingRequest's request_headers/response_headers (raw_value or value). */
export function headerOf(message: PbProcessingRequest, name: string): string | undefined {
  const headers = message.request_headers ?? message.response_headers;
  const entry = headers?.headers?.headers?.find((h) => h.key === name);
  if (entry === undefined) return undefined;
  return entry.raw_value !== undefined && entry.raw_value !== null ? Buffer.from(entry.raw_value).toString('latin1') : entry.value;
}

/** The body and end_of_stream of a request_body / response_body message. */
export function bodyOf(message: PbProcessingRequest): { body: Buffer; endOfStream: boolean } | undefined {
  const http = message.request_body ?? message.response_body;
  if (http === undefined) return undefined;
  return { body: Buffer.from(http.body ?? Buffer.alloc(0)), endOfStream: http.end_of_stream === true };
}

/** attributes["envoy.filters.http.ext_proc"] of a message as JSON (undefined if absent). */
export function attributesOf(message: PbProcessingRequest): { [key: string]: JsonValue } | undefined {
  const struct = message.attributes?.[ATTRIBUTES_KEY];
  return struct === undefined ? undefined : fromPbStruct(struct);
}

/** metadata_context.filter_metadata as JSON (namespace → object). */
export function forwardedMetadataOf(message: PbProcessingRequest): { [ns: string]: { [key: string]: JsonValue } } | undefined {
  const fm = message.metadata_context?.filter_metadata;
  if (fm === undefined) return undefined;
  return Object.fromEntries(Object.entries(fm).map(([ns, struct]) => [ns, fromPbStruct(struct)]));
}

/** Which ProcessingRequest case a message is. */
export function kindOf(message: PbProcessingRequest): string | undefined {
  if (typeof message.request === 'string') return message.request;
  return ['request_headers', 'response_headers', 'request_body', 'response_body'].find((k) => (message as Record<string, unknown>)[k] !== undefined);
}
