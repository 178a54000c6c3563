// keyswitch declares its own subset of Envoy's ext_proc protos (proto/). This test holds that
// subset to the official data-plane-api protos pinned in @grpc/grpc-js-xds: same names, numbers,
// types, labels and oneofs, and real messages survive the trip between the two definitions in
// both directions. The mutation tests prove the comparison reports a broken declaration.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import {
  EXT_PROC_SERVICE_FILE, OFFICIAL_INCLUDE_DIRS, PROTO_LOADER_OPTIONS, officialRoot, rootWithIncludes,
} from '../support/official-protos';
import { compareProtoRoots, readOurSources, rootFromSources } from '../support/proto-compare';
import { repoPath } from '../support/repo-files';
import { toPbStruct } from '../support/envoy-emulator/wire';

const PROTO_DIR = repoPath('proto');

function ourRoot(): protobuf.Root {
  // Loaded the way keyswitch loads it: the service file as root, proto/ as the include dir.
  const root = rootWithIncludes([PROTO_DIR]);
  root.loadSync(EXT_PROC_SERVICE_FILE, { keepCase: true });
  root.resolveAll();
  return root;
}

const official = officialRoot([EXT_PROC_SERVICE_FILE]);
const ours = ourRoot();

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

// Realistic messages for the paths keyswitch uses (contracts: attributes, keyswitch metadata
// namespace, raw_value-only header mutations, the retry marker).
const SAMPLES: { name: string; type: string; object: object }[] = [
  {
    name: 'request_headers of an attempt',
    type: 'envoy.service.ext_proc.v3.ProcessingRequest',
    object: {
      request_headers: {
        headers: {
          headers: [
            { key: ':method', raw_value: bytes('POST') },
            { key: ':path', raw_value: bytes('/v1/chat/completions') },
            { key: 'x-request-id', raw_value: bytes('7d1c2e8a-5b0f-4c1e-9f55-0a7e3c9b1d42') },
            { key: 'x-envoy-attempt-count', raw_value: bytes('2') },
            { key: 'x-binary', raw_value: Buffer.from([0, 1, 0xfe, 0xff, 13, 10]) },
            { key: 'x-old-style', value: 'value-only' },
          ],
        },
        end_of_stream: false,
      },
      metadata_context: {
        filter_metadata: { keyswitch: toPbStruct({ tried: ['acct-a', 'acct-b'], pool: 'openai' }) },
      },
      attributes: {
        'envoy.filters.http.ext_proc': toPbStruct({
          'request.id': '7d1c2e8a-5b0f-4c1e-9f55-0a7e3c9b1d42',
          'upstream.request_attempt_count': 2,
          'xds.route_name': 'openai',
          'xds.cluster_name': 'llm_openai',
          nested: { ok: true, none: null },
        }),
      },
      observability_mode: true,
    },
  },
  {
    name: 'response_headers of a 429',
    type: 'envoy.service.ext_proc.v3.ProcessingRequest',
    object: {
      response_headers: {
        headers: { headers: [{ key: ':status', raw_value: bytes('429') }, { key: 'retry-after', raw_value: bytes('20') }] },
        end_of_stream: true,
      },
    },
  },
  {
    name: 'request_headers reply with credential, metadata and mode override',
    type: 'envoy.service.ext_proc.v3.ProcessingResponse',
    object: {
      request_headers: {
        response: {
          status: 'CONTINUE',
          header_mutation: {
            set_headers: [
              { header: { key: 'authorization', raw_value: bytes('Bearer sk-test-not-a-secret') } },
              { header: { key: 'x-keyswitch-account', raw_value: bytes('acct-b') }, append: { value: false } },
              { header: { key: 'x-kept', raw_value: bytes('') }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD', keep_empty_value: true },
            ],
            remove_headers: ['x-api-key', 'anthropic-version'],
          },
        },
      },
      dynamic_metadata: toPbStruct({ keyswitch: { tried: ['acct-a', 'acct-b'], pool: 'openai' } }),
      mode_override: { response_header_mode: 'SKIP', request_body_mode: 'NONE' },
      override_message_timeout: { seconds: 1, nanos: 500000000 },
    },
  },
  {
    name: 'response_headers reply asking for a retry',
    type: 'envoy.service.ext_proc.v3.ProcessingResponse',
    object: {
      response_headers: {
        response: { header_mutation: { set_headers: [{ header: { key: 'x-keyswitch-failover', raw_value: bytes('retry') } }] } },
      },
    },
  },
  {
    name: 'immediate_response',
    type: 'envoy.service.ext_proc.v3.ProcessingResponse',
    object: {
      immediate_response: {
        status: { code: 'TooManyRequests' },
        headers: { set_headers: [{ header: { key: 'retry-after', raw_value: bytes('30') } }], remove_headers: ['x-keyswitch-failover'] },
        body: bytes('{"error":"all accounts cooling down"}'),
        grpc_status: { status: 8 },
        details: 'keyswitch_exhausted',
      },
    },
  },
];

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, oneofs: true };

/** Encodes with `from`, decodes with `to`; both must read the same and re-encode the same bytes. */
function roundTrip(from: protobuf.Root, to: protobuf.Root, typeName: string, object: object): void {
  const fromType = from.lookupType(typeName);
  const toType = to.lookupType(typeName);
  const message = fromType.fromObject(object);
  // fromObject drops unknown keys silently; a misspelt sample field would make the trip vacuous.
  assert.deepEqual(fromType.toObject(message, { longs: Number, enums: String }), object, 'sample uses only known fields');
  const wire = fromType.encode(message).finish();
  const decoded = toType.decode(wire);
  assert.deepEqual(toType.toObject(decoded, TO_OBJECT), fromType.toObject(fromType.decode(wire), TO_OBJECT));
  // A field the reader does not know is skipped on decode, so it would be missing here.
  assert.deepEqual(Buffer.from(toType.encode(decoded).finish()), Buffer.from(wire));
}

describe('proto/ conforms to the official Envoy protos', () => {
  it('declares every message, enum and rpc like the official protos', () => {
    assert.deepEqual(compareProtoRoots(ours, official), []);
  });

  it('compares a non-trivial set of declarations', () => {
    // Guards against a loader change that would make the comparison above vacuous.
    const hv = ours.lookupType('envoy.config.core.v3.HeaderValue');
    assert.equal(hv.fields['raw_value']?.id, 3);
    assert.ok(ours.lookupType('envoy.service.ext_proc.v3.ProcessingResponse').fieldsArray.length >= 10);
    const process = ours.lookupService('envoy.service.ext_proc.v3.ExternalProcessor').methods['Process'];
    assert.ok(process?.requestStream === true && process.responseStream === true, 'Process is bidi streaming');
  });

  for (const sample of SAMPLES) {
    it(`round-trips official → ours: ${sample.name}`, () => roundTrip(official, ours, sample.type, sample.object));
    it(`round-trips ours → official: ${sample.name}`, () => roundTrip(ours, official, sample.type, sample.object));
  }

  it('decodes official bytes identically through proto-loader with the contract options', () => {
    // The server path: keyswitch's proto-loader definition reading what an official client sends.
    const oursDef = protoLoader.loadSync(EXT_PROC_SERVICE_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    const officialDef = protoLoader.loadSync(EXT_PROC_SERVICE_FILE, {
      ...PROTO_LOADER_OPTIONS, includeDirs: [...OFFICIAL_INCLUDE_DIRS],
    });
    const service = 'envoy.service.ext_proc.v3.ExternalProcessor';
    const ourProcess = (oursDef[service] as protoLoader.ServiceDefinition)['Process'];
    const officialProcess = (officialDef[service] as protoLoader.ServiceDefinition)['Process'];
    assert.ok(ourProcess !== undefined && officialProcess !== undefined);
    assert.equal(ourProcess.path, officialProcess.path);
    assert.equal(ourProcess.path, '/envoy.service.ext_proc.v3.ExternalProcessor/Process');
    assert.equal(ourProcess.requestStream, true);
    assert.equal(ourProcess.responseStream, true);
    for (const sample of SAMPLES) {
      const [ourMethodSide, officialMethodSide] = sample.type.endsWith('Request')
        ? [ourProcess.requestDeserialize, officialProcess.requestDeserialize]
        : [ourProcess.responseDeserialize, officialProcess.responseDeserialize];
      const wire = Buffer.from(official.lookupType(sample.type).encode(official.lookupType(sample.type).fromObject(sample.object)).finish());
      assert.deepEqual(ourMethodSide(wire), officialMethodSide(wire), sample.name);
    }
  });
});

// Each mutation breaks one property of one declaration, in memory only; the comparison must
// name it. The unmutated sources must compare clean, so the failures come from the mutation.
const MUTATIONS: { what: string; file: string; from: string; to: string; expect: string }[] = [
  { what: 'field number', file: 'envoy/config/core/v3/base.proto', from: 'bytes raw_value = 3;', to: 'bytes raw_value = 4;',
    expect: 'envoy.config.core.v3.HeaderValue.raw_value: number 4, official 3' },
  { what: 'scalar type', file: 'envoy/service/ext_proc/v3/external_processor.proto', from: 'bool observability_mode = 10;',
    to: 'string observability_mode = 10;', expect: 'ProcessingRequest.observability_mode: type string, official bool' },
  { what: 'message type', file: 'envoy/service/ext_proc/v3/external_processor.proto', from: 'HeadersResponse response_headers = 2;',
    to: 'BodyResponse response_headers = 2;', expect: 'ProcessingResponse.response_headers: type envoy.service.ext_proc.v3.BodyResponse' },
  { what: 'label', file: 'envoy/service/ext_proc/v3/external_processor.proto', from: 'repeated string remove_headers = 2;',
    to: 'string remove_headers = 2;', expect: 'HeaderMutation.remove_headers: label singular, official repeated' },
  { what: 'map value type', file: 'envoy/service/ext_proc/v3/external_processor.proto',
    from: 'map<string, google.protobuf.Struct> attributes = 9;', to: 'map<string, string> attributes = 9;',
    expect: 'ProcessingRequest.attributes: type string, official google.protobuf.Struct' },
  { what: 'oneof membership', file: 'envoy/service/ext_proc/v3/external_processor.proto',
    from: '    ImmediateResponse immediate_response = 7;\n  }', to: '  }\n  ImmediateResponse immediate_response = 7;',
    expect: 'ProcessingResponse.immediate_response: oneof (none), official response' },
  { what: 'enum value number', file: 'envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto', from: 'SKIP = 2;',
    to: 'SKIP = 3;', expect: 'ProcessingMode.HeaderSendMode.SKIP: number 3, official 2' },
  { what: 'field name', file: 'envoy/config/core/v3/base.proto', from: 'string key = 1;', to: 'string name = 1;',
    expect: 'HeaderValue.name: no official field of this name (official number 1 is key)' },
  { what: 'streaming', file: 'envoy/service/ext_proc/v3/external_processor.proto', from: 'rpc Process(stream ProcessingRequest)',
    to: 'rpc Process(ProcessingRequest)', expect: 'ExternalProcessor.Process: (envoy.service.ext_proc.v3.ProcessingRequest)' },
  { what: 'extra message', file: 'envoy/service/ext_proc/v3/external_processor.proto', from: 'message GrpcStatus {',
    to: 'message KeyswitchOnly {\n  string note = 1;\n}\n\nmessage GrpcStatus {',
    expect: 'envoy.service.ext_proc.v3.KeyswitchOnly: not declared in the official protos' },
];

describe('the comparison reports a broken declaration', () => {
  const sources = readOurSources(PROTO_DIR);

  it('finds nothing in the unmutated sources', () => {
    assert.deepEqual(compareProtoRoots(rootFromSources(sources), official), []);
  });

  for (const m of MUTATIONS) {
    it(`reports a mutated ${m.what}`, () => {
      const text = sources.get(m.file);
      if (text === undefined || !text.includes(m.from)) {
        assert.fail(`${m.file} no longer contains ${JSON.stringify(m.from)}; update this mutation`);
      }
      const mutated = new Map(sources);
      mutated.set(m.file, text.replace(m.from, m.to));
      const problems = compareProtoRoots(rootFromSources(mutated), official);
      assert.ok(problems.some((p) => p.includes(m.expect)), `expected a problem containing ${JSON.stringify(m.expect)}, got:\n${problems.join('\n')}`);
    });
  }
});
