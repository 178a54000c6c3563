import type { ProcessingRequest, StructOut, ValueIn, ValueOut } from './messages';

/** The dynamic-metadata namespace keyswitch writes and reads back on the next attempt. */
export const METADATA_NAMESPACE = 'keyswitch';
/** Key under which Envoy puts request_attributes (ext_proc.cc, Filter::addAttributes). */
const ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

/** What Envoy tells keyswitch about the attempt, beyond the headers. */
export interface EnvoyContext {
  readonly clusterName: string | undefined;
  readonly requestId: string | undefined;
  /** 1-based; undefined when Envoy sent neither the attribute nor x-envoy-attempt-count. */
  readonly attemptCount: number | undefined;
  /**
   * Accounts whose earlier attempts of this request reached the provider (their response headers
   * came back), from dynamic metadata; undefined when Envoy forwarded no keyswitch metadata at
   * all (a first attempt, or a build that does not).
   */
  readonly triedFromMetadata: readonly string[] | undefined;
  /** Accounts picked by earlier attempts whose response never came (connect failure, reset). */
  readonly unreachedFromMetadata: readonly string[];
}

export function readEnvoyContext(request: ProcessingRequest, headers: ReadonlyMap<string, string>): EnvoyContext {
  const attributes = request.attributes?.[ATTRIBUTES_KEY]?.fields ?? {};
  const ours = request.metadata_context?.filter_metadata?.[METADATA_NAMESPACE]?.fields;
  return {
    clusterName: stringOf(attributes['xds.cluster_name']),
    requestId: stringOf(attributes['request.id']) ?? headers.get('x-request-id'),
    attemptCount: countOf(attributes['upstream.request_attempt_count']) ?? countOf(headers.get('x-envoy-attempt-count')),
    triedFromMetadata: ours && idsOf(ours.tried),
    unreachedFromMetadata: ours ? idsOf(ours.unreached) : [],
  };
}

/** What one attempt's access-log line should say (envoy/envoy.yaml prints these keys). */
export interface AttemptRecord {
  readonly pool: string;
  readonly account: string;
  readonly attempt: number;
  /** pass, retry or exhausted, once the response was judged. */
  readonly decision?: string;
  /** What the response said of the account (ResponseClass). */
  readonly class?: string;
  /** The cooldown or disable cause the response started, if any. */
  readonly cause?: string;
}

/**
 * dynamic_metadata for a reply: the namespace is the top-level key. Written on both replies of
 * an attempt: at request_headers the picked account is `unreached` (it may never answer), at
 * response_headers it moves to `tried`. Envoy merges each write into the namespace key by key,
 * so the later write replaces both lists; the record's keys describe the latest attempt.
 */
export function attemptMetadata(tried: readonly string[], unreached: readonly string[], record: AttemptRecord): StructOut {
  const fields: Record<string, ValueOut> = { tried: listOf(tried), unreached: listOf(unreached) };
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) fields[key] = typeof value === 'number' ? { numberValue: value } : { stringValue: value };
  }
  return { fields: { [METADATA_NAMESPACE]: { structValue: { fields } } } };
}

function listOf(ids: readonly string[]): ValueOut {
  return { listValue: { values: ids.map((id) => ({ stringValue: id })) } };
}

function idsOf(value: ValueIn | undefined): string[] {
  return (value?.listValue?.values ?? []).map(stringOf).filter((id): id is string => id !== undefined);
}

function stringOf(value: ValueIn | undefined): string | undefined {
  return value?.kind === 'stringValue' && value.stringValue ? value.stringValue : undefined;
}

/** Attribute values may arrive as a number or a string depending on the Envoy build. */
function countOf(value: ValueIn | string | undefined): number | undefined {
  const raw = typeof value === 'string' ? value : value?.kind === 'numberValue' ? value.numberValue : value?.stringValue;
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isInteger(n) && n >= 1 ? n : undefined;
}
