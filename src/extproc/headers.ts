import type { HeaderMap, HeaderValueOption } from './messages';

/**
 * Envoy sends each header value in raw_value (bytes) and leaves value empty; older builds used
 * value. Keys arrive lower-case (external_processor.proto, HeaderMap). The first value of a
 * repeated key wins, which is what the core's HeaderLookup promises.
 */
export function readHeaders(map: HeaderMap | undefined): Map<string, string> {
  const headers = new Map<string, string>();
  for (const header of map?.headers ?? []) {
    if (!header.key) continue;
    const key = header.key.toLowerCase();
    if (headers.has(key)) continue;
    const value = header.raw_value && header.raw_value.length > 0 ? header.raw_value.toString('utf8') : (header.value ?? '');
    headers.set(key, value);
  }
  return headers;
}

/**
 * A header to overwrite. Only raw_value is set: Envoy >= 1.32 ignores value and rejects a
 * mutation that sets both; append stays unset, which ext_proc reads as overwrite
 * (mutation_utils.cc, applyHeaderMutations). append_action is ignored by ext_proc, so it is
 * not sent at all.
 */
export function overwriteHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'utf8') } };
}
