/**
 * ProcessingResponse.mode_override, as source/extensions/filters/http/ext_proc/ext_proc.cc
 * Filter::onReceiveMessage applies it:
 *  - only with allow_mode_override, without send_body_without_waiting_for_header_response (the
 *    emulator reads neither that nor FULL_DUPLEX_STREAMED, which also disable it), and only while
 *    the filter waits for a headers reply (inHeaderProcessState); on body/trailer replies it is
 *    ignored (external_processor.proto mode_override);
 *  - before the reply itself is handled, so the reply is processed under the new mode;
 *  - effectiveModeOverride: the base is the CONFIGURED processing_mode (not the current one); a
 *    DEFAULT header/trailer mode in the override keeps the configured value, body modes are always
 *    taken from the override (unset = NONE);
 *  - allowed_override_modes, when set, must contain an entry equal to the effective override on
 *    every field but request_header_mode; otherwise the override is dropped (the reply still is
 *    handled);
 *  - the result is set on both directions (decoding_state_ and encoding_state_).
 */
import type { ProcessingModeProto } from './ext-proc-config';

type HeaderField = 'request_header_mode' | 'response_header_mode' | 'request_trailer_mode' | 'response_trailer_mode';
const HEADER_FIELDS: HeaderField[] = ['request_header_mode', 'response_header_mode', 'request_trailer_mode', 'response_trailer_mode'];
const COMPARED: Array<keyof ProcessingModeProto> = ['request_body_mode', 'request_trailer_mode', 'response_header_mode',
  'response_body_mode', 'response_trailer_mode'];

/** ext_proc.cc effectiveModeOverride. */
export function effectiveModeOverride(target: ProcessingModeProto, configured: ProcessingModeProto): ProcessingModeProto {
  const effective = { ...configured, request_body_mode: target.request_body_mode, response_body_mode: target.response_body_mode };
  for (const field of HEADER_FIELDS) if (target[field] !== 'DEFAULT') effective[field] = target[field];
  return effective;
}

/** The allowed_override_modes check of ext_proc.cc onReceiveMessage (request_header_mode ignored). */
export function overrideAllowed(effective: ProcessingModeProto, allowed: ProcessingModeProto[]): boolean {
  return allowed.length === 0 || allowed.some((entry) => COMPARED.every((field) => entry[field] === effective[field]));
}
