/**
 * Applying an ext_proc HeaderMutation the way Envoy does:
 *  - source/extensions/filters/http/ext_proc/mutation_utils.cc MutationUtils::applyHeaderMutations
 *    (removals first, then sets; both value and raw_value set = error; only raw_value is read
 *    since Envoy 1.32 (PR #35388); `append` (BoolValue, default false) chooses addCopy vs setCopy;
 *    `append_action` and `keep_empty_value` are not consulted);
 *  - source/extensions/filters/common/mutation_rules/mutation_rules.cc Checker::check/isAllowed/
 *    isValidValue, with the filter's mutation_rules from the bootstrap. isAllowed decides in this
 *    order, first match wins: a removal of a ":" header or host → no; disallow_expression → no;
 *    allow_expression → yes; disallow_all → no; host/:authority/:method/:scheme without
 *    allow_all_routing → no; a ":" header appended, or any with disallow_system → no; x-envoy*
 *    without allow_envoy → no; else yes. Both expressions are RE2 full matches on the lower-case
 *    name, and removals go through the same checker as sets. isValidValue: :status a number
 *    >= 200, :scheme http/https. A disallowed change is ignored and counted
 *    (rejected_header_mutations) unless disallow_is_error, which turns it into an error.
 * An error makes ext_proc answer with a local reply (status_on_error, default 500).
 */
import { type HeaderMap, headerNameIsValid, headerValueIsValid } from './header-map';
import type { MutationRules } from './ext-proc-config';
import type { PbHeaderMutation } from './wire';

/**
 * How a set_headers entry with only the string `value` is treated. Envoy >= 1.32 reads raw_value
 * alone, so the header is set to the EMPTY string (issue #31555 shows the effect): 'empty' (the
 * default). 'ignore' drops such entries instead, for tests written to the simpler reading.
 */
export type ValueOnlyMutation = 'empty' | 'ignore';

export interface MutationOutcome {
  /** undefined = applied; otherwise the InvalidArgument message Envoy would log. */
  error: string | undefined;
  /** Human-readable list of ignored changes (each one bumps rejected_header_mutations). */
  rejected: string[];
}

type CheckOperation = 'SET' | 'APPEND' | 'REMOVE';

// Checker::extraRoutingHeaders: what allow_all_routing unlocks.
const ROUTING_HEADERS = new Set(['host', ':authority', ':method', ':scheme']);

function isAllowed(rules: MutationRules, op: CheckOperation, name: string): boolean {
  // "No matter what, you can't remove the host or any ':' headers" (isModifiableHeader).
  if (op === 'REMOVE' && (name.startsWith(':') || name === 'host')) return false;
  if (rules.disallowExpression?.test(name) === true) return false;
  if (rules.allowExpression?.test(name) === true) return true;
  if (rules.disallowAll) return false;
  if (!rules.allowAllRouting && ROUTING_HEADERS.has(name)) return false;
  if (name.startsWith(':') && (op === 'APPEND' || rules.disallowSystem)) return false;
  if (!rules.allowEnvoy && name.startsWith('x-envoy')) return false;
  return true;
}

function isValidValue(name: string, value: string): boolean {
  if (!name.startsWith(':') && !headerValueIsValid(value)) return false;
  if (name === ':status') {
    if (!/^\d+$/.test(value)) return false;
    if (Number(value) < 200) return false;
  }
  if (name === ':scheme' && value !== 'http' && value !== 'https') return false;
  return true;
}

/** Checker::check: OK, IGNORE, or FAIL (disallow_is_error). */
function check(rules: MutationRules, op: CheckOperation, name: string, value: string): 'OK' | 'IGNORE' | 'FAIL' {
  if (isAllowed(rules, op, name) && (op === 'REMOVE' || isValidValue(name, value))) return 'OK';
  return rules.disallowIsError ? 'FAIL' : 'IGNORE';
}

/** Apply `mutation` to `headers` in place. */
export function applyHeaderMutation(
  mutation: PbHeaderMutation | undefined,
  headers: HeaderMap,
  rules: MutationRules,
  valueOnly: ValueOnlyMutation,
): MutationOutcome {
  const rejected: string[] = [];
  if (mutation === undefined) return { error: undefined, rejected };
  for (const raw of mutation.remove_headers ?? []) {
    if (!headerNameIsValid(raw)) return { error: 'Invalid character in remove_headers mutation.', rejected: [...rejected, `remove ${raw}`] };
    const name = raw.toLowerCase();
    const result = check(rules, 'REMOVE', name, '');
    if (result === 'OK') headers.remove(name);
    else if (result === 'IGNORE') rejected.push(`remove ${name}`);
    else return { error: `Invalid attempt to remove ${name}`, rejected: [...rejected, `remove ${name}`] };
  }
  for (const option of mutation.set_headers ?? []) {
    const header = option.header;
    if (header === undefined || header === null) continue;
    const key = header.key ?? '';
    const value = header.value ?? '';
    const raw = header.raw_value === undefined || header.raw_value === null ? '' : Buffer.from(header.raw_value).toString('latin1');
    if (value !== '' && raw !== '') {
      return { error: 'Only one of value or raw_value in the HeaderValue message should be set.', rejected: [...rejected, `set ${key}`] };
    }
    if (value !== '' && valueOnly === 'ignore') {
      rejected.push(`set ${key} (value only)`);
      continue;
    }
    if (!headerNameIsValid(key) || !headerValueIsValid(raw)) {
      return { error: 'Invalid character in set_headers mutation.', rejected: [...rejected, `set ${key}`] };
    }
    const name = key.toLowerCase();
    const append = option.append?.value === true;
    const op: CheckOperation = append && headers.has(name) ? 'APPEND' : 'SET';
    const result = check(rules, op, name, raw);
    if (result === 'OK') {
      if (append) headers.add(name, raw);
      else headers.set(name, raw);
    } else if (result === 'IGNORE') {
      rejected.push(`${op.toLowerCase()} ${name}`);
    } else {
      return { error: `Invalid attempt to modify ${name}`, rejected: [...rejected, `${op.toLowerCase()} ${name}`] };
    }
  }
  return { error: undefined, rejected };
}
