import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/external_processor';

/**
 * The options every ext_proc message is decoded with. `npm run gen:types` passes the same
 * options to proto-loader-gen-types, so the generated types in ./generated match the wire
 * objects exactly (test/unit/generated-types.test.ts checks they are fresh).
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

/** proto/ at the package root; this file runs from dist/src/extproc/. */
export const PROTO_DIR = path.resolve(__dirname, '../../../proto');
export const EXT_PROC_PROTO = 'envoy/service/ext_proc/v3/external_processor.proto';
export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

export function loadExtProcDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(EXT_PROC_PROTO, { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
}

export type ExtProcPackage = ProtoGrpcType;
