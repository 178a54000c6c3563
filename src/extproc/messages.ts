/** The generated wire types keyswitch uses, under the names the adapter speaks. */
export type { ProcessingRequest__Output as ProcessingRequest } from './generated/envoy/service/ext_proc/v3/ProcessingRequest';
export type { ProcessingResponse } from './generated/envoy/service/ext_proc/v3/ProcessingResponse';
export type { HeaderMutation } from './generated/envoy/service/ext_proc/v3/HeaderMutation';
export type { HeaderMap__Output as HeaderMap } from './generated/envoy/config/core/v3/HeaderMap';
export type { HeaderValueOption } from './generated/envoy/config/core/v3/HeaderValueOption';
export type { Struct as StructOut } from './generated/google/protobuf/Struct';
export type { Value__Output as ValueIn, Value as ValueOut } from './generated/google/protobuf/Value';
