/**
 * Compares keyswitch's own proto declarations with the official Envoy protos, both loaded as
 * protobufjs Roots. Every message, enum and service that `ours` declares (outside
 * google.protobuf) must exist in `official` under the same full name and agree on the wire:
 * field name and number, type, label (repeated, map key/value, proto3 optional), oneof
 * membership; enum value numbers; rpc request/response types and streaming.
 *
 * Returns a list of problems (empty means conformant) so a test can also prove that a
 * deliberately broken declaration is reported.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** The proto files keyswitch declares, relative to proto/. */
export const OUR_PROTO_FILES: readonly string[] = Object.freeze([
  'envoy/type/v3/http_status.proto',
  'envoy/config/core/v3/base.proto',
  'envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto',
  'envoy/service/ext_proc/v3/external_processor.proto',
]);

const WELL_KNOWN = ['any', 'duration', 'struct', 'wrappers', 'timestamp', 'empty'];

/**
 * A resolved Root built from proto sources given as text (file name → text), plus protobufjs's
 * bundled google/protobuf types. Imports are not followed: every file of the set is given.
 * Used for our files read from disk and for in-memory mutated copies of them.
 */
export function rootFromSources(sources: ReadonlyMap<string, string>): protobuf.Root {
  const root = new protobuf.Root();
  for (const name of WELL_KNOWN) {
    const json = protobuf.common.get(`google/protobuf/${name}.proto`) as { nested: protobuf.INamespace['nested'] };
    root.addJSON(json.nested ?? {});
  }
  for (const [file, text] of sources) {
    try {
      protobuf.parse(text, root, { keepCase: true });
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
  }
  root.resolveAll();
  return root;
}

/** Our proto files as text, read from `protoDir` (the repository's proto/). */
export function readOurSources(protoDir: string): Map<string, string> {
  return new Map(OUR_PROTO_FILES.map((f) => [f, fs.readFileSync(path.join(protoDir, f), 'utf8')]));
}

function name(obj: protobuf.ReflectionObject): string {
  return obj.fullName.replace(/^\./, '');
}

/** Every type, enum and service below `ns`, skipping google.protobuf. */
function declared(ns: protobuf.NamespaceBase): protobuf.ReflectionObject[] {
  const out: protobuf.ReflectionObject[] = [];
  for (const child of ns.nestedArray) {
    if (name(child).startsWith('google.protobuf')) continue;
    if (child instanceof protobuf.Type || child instanceof protobuf.Enum || child instanceof protobuf.Service) {
      out.push(child);
    }
    if (child instanceof protobuf.Namespace) out.push(...declared(child));
  }
  return out;
}

/** Compares every declaration in `ours` with `official`. */
export function compareProtoRoots(ours: protobuf.Root, official: protobuf.Root): string[] {
  const problems: string[] = [];
  for (const decl of declared(ours)) {
    const full = name(decl);
    const theirs = official.lookup(full);
    if (theirs === null) {
      problems.push(`${full}: not declared in the official protos`);
    } else if (decl instanceof protobuf.Type) {
      if (theirs instanceof protobuf.Type) compareType(decl, theirs, problems);
      else problems.push(`${full}: ours is a message, official is not`);
    } else if (decl instanceof protobuf.Enum) {
      if (theirs instanceof protobuf.Enum) compareEnum(decl, theirs, problems);
      else problems.push(`${full}: ours is an enum, official is not`);
    } else if (decl instanceof protobuf.Service) {
      if (theirs instanceof protobuf.Service) compareService(decl, theirs, problems);
      else problems.push(`${full}: ours is a service, official is not`);
    }
  }
  return problems;
}

/** The field's type as the wire sees it: resolved full name for messages/enums, else scalar. */
function typeOf(field: protobuf.Field): string {
  return field.resolvedType !== null ? name(field.resolvedType) : field.type;
}

function isProto3Optional(field: protobuf.Field): boolean {
  return field.options?.['proto3_optional'] === true;
}

/** The real oneof a field belongs to; proto3 `optional` fields get a synthetic one, ignored. */
function oneofOf(field: protobuf.Field): string | undefined {
  if (field.partOf === null || field.partOf === undefined || isProto3Optional(field)) return undefined;
  return field.partOf.name;
}

function label(field: protobuf.Field): string {
  if (field instanceof protobuf.MapField) return `map<${field.keyType}, ${typeOf(field)}>`;
  if (field.repeated) return 'repeated';
  return isProto3Optional(field) ? 'optional' : 'singular';
}

function compareType(ours: protobuf.Type, theirs: protobuf.Type, problems: string[]): void {
  for (const field of ours.fieldsArray) {
    const at = `${name(ours)}.${field.name}`;
    const other = theirs.fields[field.name];
    if (other === undefined) {
      const sameNumber = theirs.fieldsById[field.id];
      const hint = sameNumber !== undefined ? ` (official number ${field.id} is ${sameNumber.name})` : '';
      problems.push(`${at}: no official field of this name${hint}`);
      continue;
    }
    if (field.id !== other.id) problems.push(`${at}: number ${field.id}, official ${other.id}`);
    if (typeOf(field) !== typeOf(other)) problems.push(`${at}: type ${typeOf(field)}, official ${typeOf(other)}`);
    if (label(field) !== label(other)) problems.push(`${at}: label ${label(field)}, official ${label(other)}`);
    if (oneofOf(field) !== oneofOf(other)) {
      problems.push(`${at}: oneof ${oneofOf(field) ?? '(none)'}, official ${oneofOf(other) ?? '(none)'}`);
    }
  }
}

function compareEnum(ours: protobuf.Enum, theirs: protobuf.Enum, problems: string[]): void {
  for (const [valueName, num] of Object.entries(ours.values)) {
    const other = theirs.values[valueName];
    if (other === undefined) problems.push(`${name(ours)}.${valueName}: no official enum value of this name`);
    else if (other !== num) problems.push(`${name(ours)}.${valueName}: number ${num}, official ${other}`);
  }
}

function compareService(ours: protobuf.Service, theirs: protobuf.Service, problems: string[]): void {
  for (const method of ours.methodsArray) {
    const at = `${name(ours)}.${method.name}`;
    const other = theirs.methods[method.name];
    if (other === undefined) {
      problems.push(`${at}: no official rpc of this name`);
      continue;
    }
    const shape = (m: protobuf.Method): string =>
      `(${m.requestStream === true ? 'stream ' : ''}${m.resolvedRequestType === null ? m.requestType : name(m.resolvedRequestType)})` +
      ` returns (${m.responseStream === true ? 'stream ' : ''}${m.resolvedResponseType === null ? m.responseType : name(m.resolvedResponseType)})`;
    if (shape(method) !== shape(other)) problems.push(`${at}: ${shape(method)}, official ${shape(other)}`);
  }
}
