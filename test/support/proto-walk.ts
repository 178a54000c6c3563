/**
 * A strict checker of JSON/YAML-shaped data against a protobufjs message type, in the proto3 JSON
 * mapping that Envoy uses to read its YAML bootstrap (MessageUtil::loadFromYaml → JSON → proto).
 *
 * It returns every problem at once, each naming the path to the offending value, e.g.
 * `static_resources.clusters[0].typed_extension_protocol_options["…"].http_filters[0].foo: unknown field`.
 * Checked: unknown fields, types of scalars, enum names, repeated and map shapes, more than one
 * member of a oneof, deprecated fields, the JSON forms of well-known types (Duration, wrappers,
 * Struct, …), and google.protobuf.Any, whose "@type" is resolved in the same Root and walked into.
 * Not checked: Envoy's PGV validation rules (ranges, required, min_items) and semantics.
 */
import * as protobuf from 'protobufjs';

type Json = unknown;

/** Checks `value` against the message type `typeName` (full name, no leading dot) in `root`. */
export function walkMessage(root: protobuf.Root, typeName: string, value: Json, path = ''): string[] {
  const problems: string[] = [];
  const type = root.lookupType(typeName);
  checkMessage(root, type, value, path, problems);
  return problems;
}

const ANY_PREFIX = 'type.googleapis.com/';
const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};
// proto3 JSON: "1.5s", "0s", "-3.000000001s".
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, '');
}

function isPlainObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Field lookup by proto name or its lowerCamelCase JSON name (Envoy accepts both). */
function findField(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const direct = type.fields[key];
  if (direct !== undefined) return direct;
  return type.fieldsArray.find((f) => camel(f.name) === key);
}

function checkMessage(
  root: protobuf.Root, type: protobuf.Type, value: Json, path: string, problems: string[],
): void {
  const name = fullName(type);
  if (name.startsWith('google.protobuf.')) {
    checkWellKnown(root, type, name, value, path, problems);
    return;
  }
  checkFields(root, type, value, path, problems);
}

/** The ordinary walk: a mapping whose keys are fields of `type`. */
function checkFields(
  root: protobuf.Root, type: protobuf.Type, value: Json, path: string, problems: string[],
): void {
  const name = fullName(type);
  if (!isPlainObject(value)) {
    problems.push(`${path || '<root>'}: expected a mapping for ${name}, got ${describe(value)}`);
    return;
  }
  const oneofsSeen = new Map<string, string[]>();
  for (const [key, child] of Object.entries(value)) {
    const childPath = join(path, key);
    const field = findField(type, key);
    if (field === undefined) {
      problems.push(`${childPath}: unknown field of ${name}`);
      continue;
    }
    if (field.options?.['deprecated'] === true) problems.push(`${childPath}: deprecated field of ${name}`);
    if (field.partOf !== null && field.partOf !== undefined) {
      const members = oneofsSeen.get(field.partOf.name) ?? [];
      members.push(key);
      oneofsSeen.set(field.partOf.name, members);
    }
    checkField(root, field, child, childPath, problems);
  }
  for (const [oneof, members] of oneofsSeen) {
    if (members.length > 1) {
      problems.push(`${path || '<root>'}: oneof ${name}.${oneof} has more than one member set: ${members.join(', ')}`);
    }
  }
}

function checkField(root: protobuf.Root, field: protobuf.Field, value: Json, path: string, problems: string[]): void {
  if (value === null) {
    // An empty YAML value ("key:") is almost always a mistake; proto3 JSON would read it as unset.
    problems.push(`${path}: empty value`);
    return;
  }
  if (field instanceof protobuf.MapField) {
    if (!isPlainObject(value)) {
      problems.push(`${path}: expected a mapping (map<${field.keyType}, …>), got ${describe(value)}`);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      const itemPath = `${path}[${JSON.stringify(key)}]`;
      checkMapKey(field.keyType, key, itemPath, problems);
      checkSingle(root, field, item, itemPath, problems);
    }
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: expected a list, got ${describe(value)}`);
      return;
    }
    value.forEach((item, i) => checkSingle(root, field, item, `${path}[${i}]`, problems));
    return;
  }
  checkSingle(root, field, value, path, problems);
}

function checkMapKey(keyType: string, key: string, path: string, problems: string[]): void {
  if (keyType === 'string') return;
  if (keyType === 'bool' ? key !== 'true' && key !== 'false' : !/^-?\d+$/.test(key)) {
    problems.push(`${path}: map key is not a valid ${keyType}`);
  }
}

function checkSingle(root: protobuf.Root, field: protobuf.Field, value: Json, path: string, problems: string[]): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    checkMessage(root, resolved, value, path, problems);
  } else if (resolved instanceof protobuf.Enum) {
    checkEnum(resolved, value, path, problems);
  } else {
    checkScalar(field.type, value, path, problems);
  }
}

function checkEnum(enumType: protobuf.Enum, value: Json, path: string, problems: string[]): void {
  const name = fullName(enumType);
  if (name === 'google.protobuf.NullValue' && value === null) return;
  if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(enumType.values, value)) {
    problems.push(`${path}: ${describe(value)} is not a value name of enum ${name}`);
  }
}

function checkScalar(scalar: string, value: Json, path: string, problems: string[]): void {
  const bad = (): void => { problems.push(`${path}: expected ${scalar}, got ${describe(value)}`); };
  const integral = (v: Json): number | undefined => {
    // proto3 JSON accepts integers as numbers or as decimal strings.
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
  };
  if (scalar === 'string') {
    if (typeof value !== 'string') bad();
  } else if (scalar === 'bool') {
    if (typeof value !== 'boolean') bad();
  } else if (scalar === 'bytes') {
    if (typeof value !== 'string' || !BASE64.test(value)) bad();
  } else if (scalar === 'double' || scalar === 'float') {
    if (typeof value !== 'number' && !['NaN', 'Infinity', '-Infinity'].includes(String(value))) bad();
  } else if (INT32.has(scalar)) {
    const n = integral(value);
    if (n === undefined || n < -(2 ** 31) || n >= 2 ** 31) bad();
  } else if (UINT32.has(scalar)) {
    const n = integral(value);
    if (n === undefined || n < 0 || n >= 2 ** 32) bad();
  } else if (INT64.has(scalar)) {
    const n = integral(value);
    if (n === undefined || (scalar.startsWith('u') || scalar === 'fixed64') && n < 0) bad();
  } else {
    problems.push(`${path}: unsupported scalar type ${scalar}`);
  }
}

function checkWellKnown(
  root: protobuf.Root, type: protobuf.Type, name: string, value: Json, path: string, problems: string[],
): void {
  const at = path || '<root>';
  const wrapped = WRAPPERS[name];
  if (wrapped !== undefined) {
    checkScalar(wrapped, value, at, problems);
    return;
  }
  switch (name) {
    case 'google.protobuf.Duration':
      if (typeof value !== 'string' || !DURATION.test(value)) {
        problems.push(`${at}: expected a Duration like "0.2s", got ${describe(value)}`);
      }
      return;
    case 'google.protobuf.Timestamp':
      if (typeof value !== 'string' || !TIMESTAMP.test(value)) {
        problems.push(`${at}: expected an RFC 3339 Timestamp, got ${describe(value)}`);
      }
      return;
    case 'google.protobuf.FieldMask':
      if (typeof value !== 'string') problems.push(`${at}: expected a FieldMask string, got ${describe(value)}`);
      return;
    case 'google.protobuf.Struct':
      if (!isPlainObject(value)) problems.push(`${at}: expected a mapping (Struct), got ${describe(value)}`);
      return;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) problems.push(`${at}: expected a list (ListValue), got ${describe(value)}`);
      return;
    case 'google.protobuf.Value':
      return; // any JSON value
    case 'google.protobuf.Empty':
      if (!isPlainObject(value) || Object.keys(value).length > 0) problems.push(`${at}: expected {} (Empty)`);
      return;
    case 'google.protobuf.Any':
      checkAny(root, value, at, problems);
      return;
    default:
      // Other google.protobuf messages (none expected in Envoy configs) get the ordinary walk.
      checkFields(root, type, value, path, problems);
  }
}

function checkAny(root: protobuf.Root, value: Json, path: string, problems: string[]): void {
  if (!isPlainObject(value)) {
    problems.push(`${path}: expected a mapping with "@type" (Any), got ${describe(value)}`);
    return;
  }
  const url = value['@type'];
  if (typeof url !== 'string' || !url.startsWith(ANY_PREFIX)) {
    problems.push(`${join(path, '@type')}: expected "${ANY_PREFIX}<message name>", got ${describe(url)}`);
    return;
  }
  const typeName = url.slice(ANY_PREFIX.length);
  let inner: protobuf.Type;
  try {
    inner = root.lookupType(typeName);
  } catch {
    problems.push(`${join(path, '@type')}: unknown message type ${typeName} (not an official type, or its file is not loaded)`);
    return;
  }
  const rest: Record<string, Json> = { ...value };
  delete rest['@type'];
  const innerName = fullName(inner);
  if (innerName.startsWith('google.protobuf.') && innerName !== 'google.protobuf.Any') {
    // proto3 JSON puts a well-known type's JSON form under "value".
    checkWellKnown(root, inner, innerName, rest['value'], join(path, 'value'), problems);
    return;
  }
  checkMessage(root, inner, rest, path, problems);
}
