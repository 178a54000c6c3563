/**
 * The OFFICIAL Envoy protos, as shipped in the pinned devDependency @grpc/grpc-js-xds
 * (deps/: a mid-2024, about Envoy 1.31, copy of data-plane-api plus cncf/xds, googleapis and PGV).
 *
 * Tests compare keyswitch's own proto/ declarations and envoy/envoy.yaml against these, and the
 * Envoy emulator talks to keyswitch through the official service definition, so a mistake in
 * proto/ cannot hide behind a test that uses the same mistaken files on both ends.
 *
 * Nothing here is copied into the repository; the files are read from node_modules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';

const XDS_DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Include dirs for the official protos, in the order grpc-js-xds itself uses them. */
export const OFFICIAL_INCLUDE_DIRS: readonly string[] = Object.freeze(
  ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => path.join(XDS_DEPS, dir)),
);

/** The official ext_proc service file, relative to the include dirs. */
export const EXT_PROC_SERVICE_FILE = 'envoy/service/ext_proc/v3/external_processor.proto';

// protobufjs bundles most google/protobuf/*.proto but not descriptor.proto, which the
// validate/udpa annotation files import; the protobufjs package ships it as a file.
const PROTOBUFJS_DIR = path.dirname(require.resolve('protobufjs/package.json'));

/** The proto-loader options keyswitch decodes with (contracts: use these everywhere). */
export const PROTO_LOADER_OPTIONS = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
}) satisfies protoLoader.Options;

const rootCache = new Map<string, protobuf.Root>();

/**
 * A protobufjs Root with the given official files (paths relative to the include dirs) and
 * everything they import, fully resolved. Cached per file list; treat the result as read-only.
 */
export function officialRoot(files: readonly string[]): protobuf.Root {
  const key = [...files].sort().join('\n');
  const cached = rootCache.get(key);
  if (cached !== undefined) return cached;
  const root = rootWithIncludes([...OFFICIAL_INCLUDE_DIRS, PROTOBUFJS_DIR]);
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  rootCache.set(key, root);
  return root;
}

/**
 * An empty protobufjs Root whose imports resolve against `includeDirs`, first match wins.
 * Exported so tests can load keyswitch's own proto/ the same way.
 */
export function rootWithIncludes(includeDirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string | null => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // Unresolved: hand back the bare name so protobufjs can use its bundled google/protobuf
    // copies, or fail with the name in the error.
    return protobuf.util.path.resolve(origin, target);
  };
  return root;
}

let extProcPackage: grpc.GrpcObject | undefined;

/**
 * The official ext_proc package loaded with proto-loader (PROTO_LOADER_OPTIONS) and
 * grpc.loadPackageDefinition, so that
 * `new (pkg.envoy.service.ext_proc.v3.ExternalProcessor)(address, credentials)` works.
 * See officialExtProcClient() for the same constructor with a type.
 */
export function loadOfficialExtProcPackage(): grpc.GrpcObject {
  if (extProcPackage === undefined) {
    const definition = protoLoader.loadSync(EXT_PROC_SERVICE_FILE, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [...OFFICIAL_INCLUDE_DIRS],
    });
    extProcPackage = grpc.loadPackageDefinition(definition);
  }
  return extProcPackage;
}

/** The official ExternalProcessor client constructor (what Envoy's gRPC client speaks). */
export function officialExtProcClient(): grpc.ServiceClientConstructor {
  const pkg = loadOfficialExtProcPackage() as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  return pkg.envoy.service.ext_proc.v3.ExternalProcessor;
}
