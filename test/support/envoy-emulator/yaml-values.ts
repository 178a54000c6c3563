/**
 * Small readers for Envoy's YAML/JSON proto representation: objects, lists, strings, booleans,
 * wrapped values ({value: x}) and google.protobuf.Duration ("0.2s" or {seconds, nanos}).
 * Wrong types throw with the field path, so a malformed bootstrap fails the emulator loudly.
 */

export type Obj = Record<string, unknown>;

export function asObj(value: unknown, path: string): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${path}: expected an object`);
  return value as Obj;
}

export function asList(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${path}: expected a list`);
  return value;
}

export function asString(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${path}: expected a string`);
  return value;
}

export function asStringList(value: unknown, path: string): string[] {
  return asList(value, path).map((item, i) => asString(item, `${path}[${i}]`) ?? '');
}

/** A bool or a google.protobuf.BoolValue ({value: bool}). */
export function asBool(value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'object' && 'value' in (value as Obj)) return asBool((value as Obj)['value'], path, fallback);
  throw new Error(`${path}: expected a boolean`);
}

/** A number or a wrapped UInt32Value ({value: n}); numeric strings are accepted (proto JSON). */
export function asNumber(value: unknown, path: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (typeof value === 'object' && 'value' in (value as Obj)) return asNumber((value as Obj)['value'], path, fallback);
  throw new Error(`${path}: expected a number`);
}

/** google.protobuf.Duration in milliseconds: "0.2s", "10s", or {seconds, nanos}. */
export function asDurationMs(value: unknown, path: string, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
    if (match === null) throw new Error(`${path}: expected a duration like "0.2s"`);
    return Math.round(Number(match[1]) * 1000);
  }
  if (typeof value === 'object') {
    const o = value as Obj;
    return asNumber(o['seconds'], `${path}.seconds`, 0) * 1000 + Math.round(asNumber(o['nanos'], `${path}.nanos`, 0) / 1e6);
  }
  throw new Error(`${path}: expected a duration`);
}

/** The message type named by an Any's "@type" (after the last "/"), or undefined. */
export function anyType(value: unknown): string | undefined {
  const type = asObj(value, 'typed_config')['@type'];
  return typeof type === 'string' ? type.slice(type.lastIndexOf('/') + 1) : undefined;
}
