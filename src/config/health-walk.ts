/**
 * Walks a pool's `health` and `errorBodies` sections (the pool walker calls it): when a disabled
 * account is probed, how much of a pool faults may disable, and the opt-in error-body rules with
 * the shipped ones.
 */
import type { BodyClass, BodyRule, ErrorBodyPolicy, HealthPolicy } from '../core/policy';
import { DEFAULTS } from './defaults';
import { at, describe, Fields, item, type Mapping } from './fields';

const BODY_CLASSES: readonly BodyClass[] = ['billing', 'rate-limit', 'overload', 'request'];

/**
 * Error bodies keyswitch recognises when a pool sets `errorBodies` (yours are checked first):
 *  - OpenAI 429 `insufficient_quota`: billing or quota exhausted, no reset header (OpenAI API
 *    "Error codes" guide: "You exceeded your current quota, please check your plan and billing").
 *  - Anthropic `billing_error` (Anthropic API "Errors": 402 billing_error), and its 400 "Your
 *    credit balance is too low to access the Anthropic API" and "You have reached your specified
 *    API usage limits" (a workspace spend limit) messages.
 *  - Any 402 (RFC 9110 §15.5.3, Payment Required).
 */
export const BUILTIN_BODY_RULES: readonly BodyRule[] = Object.freeze([
  { statuses: new Set([429]), path: ['error', 'code'], equals: 'insufficient_quota', class: 'billing' },
  { statuses: new Set([429]), path: ['error', 'type'], equals: 'insufficient_quota', class: 'billing' },
  { statuses: new Set([400, 402, 403]), path: ['error', 'type'], equals: 'billing_error', class: 'billing' },
  { statuses: new Set([400]), contains: 'credit balance is too low', class: 'billing' },
  { statuses: new Set([400, 429]), contains: 'reached your specified API usage limits', class: 'billing' },
  { statuses: new Set([402]), contains: '', class: 'billing' },
] satisfies BodyRule[]);

export function walkHealth(value: unknown, path: string, disableOn: ReadonlySet<number>, fields: Fields): HealthPolicy {
  const raw: Mapping = value === undefined ? {} : fields.mapping(value, path, ['probeAfter', 'probeMax', 'maxDisabledFraction']) ?? {};
  const probeAfterMs = raw.probeAfter === undefined ? DEFAULTS.probeAfterMs : fields.duration(raw.probeAfter, at(path, 'probeAfter'));
  const probeMaxMs = raw.probeMax === undefined ? DEFAULTS.probeMaxMs : fields.duration(raw.probeMax, at(path, 'probeMax'));
  if (probeAfterMs !== undefined && probeMaxMs !== undefined && probeAfterMs > probeMaxMs) {
    fields.problems.add(at(path, 'probeAfter'), `must not be longer than probeMax (${describe(raw.probeMax ?? '24h')})`);
  }
  const maxDisabledFraction =
    raw.maxDisabledFraction === undefined
      ? DEFAULTS.maxDisabledFraction
      : fields.fraction(raw.maxDisabledFraction, at(path, 'maxDisabledFraction'));
  return {
    disableOn,
    probeAfterMs: probeAfterMs ?? DEFAULTS.probeAfterMs,
    probeMaxMs: probeMaxMs ?? DEFAULTS.probeMaxMs,
    maxDisabledFraction: maxDisabledFraction ?? DEFAULTS.maxDisabledFraction,
  };
}

export function walkErrorBodies(value: unknown, path: string, fields: Fields): ErrorBodyPolicy | undefined {
  const raw = fields.mapping(value ?? {}, path, ['rules', 'builtinRules', 'maxBytes', 'wait']);
  if (raw === undefined) return undefined;
  const rules: BodyRule[] = [];
  if (raw.rules !== undefined) {
    const entries = fields.list(raw.rules, at(path, 'rules'), false) ?? [];
    entries.forEach((entry, index) => {
      const rule = walkRule(entry, item(at(path, 'rules'), index), fields);
      if (rule !== undefined) rules.push(rule);
    });
  }
  const builtin = raw.builtinRules === undefined ? true : fields.boolean(raw.builtinRules, at(path, 'builtinRules'));
  if (builtin !== false) rules.push(...BUILTIN_BODY_RULES);
  if (rules.length === 0 && raw.rules !== undefined) fields.problems.add(at(path, 'rules'), 'must not be empty when builtinRules is false');
  const maxBytes = raw.maxBytes === undefined ? DEFAULTS.errorBodyMaxBytes : fields.integer(raw.maxBytes, at(path, 'maxBytes'), 64, 1 << 20);
  const waitMs = raw.wait === undefined ? DEFAULTS.errorBodyWaitMs : fields.duration(raw.wait, at(path, 'wait'));
  const statuses = new Set<number>();
  for (const rule of rules) for (const status of rule.statuses) statuses.add(status);
  return {
    rules,
    statuses,
    maxBytes: maxBytes ?? DEFAULTS.errorBodyMaxBytes,
    waitMs: waitMs ?? DEFAULTS.errorBodyWaitMs,
  };
}

function walkRule(value: unknown, path: string, fields: Fields): BodyRule | undefined {
  const raw = fields.mapping(value, path, ['status', 'path', 'equals', 'contains', 'class']);
  if (raw === undefined) return undefined;
  const problems = fields.problems;
  const statuses = new Set<number>();
  if (raw.status === undefined) problems.add(at(path, 'status'), 'is required (a status or a list of statuses)');
  else {
    const list = Array.isArray(raw.status) ? raw.status : [raw.status];
    if (list.length === 0) problems.add(at(path, 'status'), 'must not be empty');
    list.forEach((entry, index) => {
      const status = fields.integer(entry, Array.isArray(raw.status) ? item(at(path, 'status'), index) : at(path, 'status'), 400, 599);
      if (status !== undefined) statuses.add(status);
    });
  }
  let jsonPath: string[] | undefined;
  if (raw.path !== undefined) {
    const text = fields.text(raw.path, at(path, 'path'));
    if (text !== undefined && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(text)) {
      problems.add(at(path, 'path'), `must be a dotted JSON path such as "error.code", got ${describe(text)}`);
    } else if (text !== undefined) jsonPath = text.split('.');
  }
  const equals = raw.equals === undefined ? undefined : fields.text(raw.equals, at(path, 'equals'));
  const contains = raw.contains === undefined ? undefined : fields.text(raw.contains, at(path, 'contains'));
  if (raw.equals !== undefined && raw.path === undefined) problems.add(at(path, 'equals'), 'needs path: the JSON field to compare');
  if (raw.path === undefined && raw.contains === undefined) {
    problems.add(path, 'needs path (with equals or contains) or contains, or it would match every body of its status');
  }
  let bodyClass: BodyClass | undefined;
  if (raw.class === undefined) problems.add(at(path, 'class'), `is required (one of ${BODY_CLASSES.join(', ')})`);
  else if (BODY_CLASSES.includes(raw.class as BodyClass)) bodyClass = raw.class as BodyClass;
  else problems.add(at(path, 'class'), `must be one of ${BODY_CLASSES.join(', ')}, got ${describe(raw.class)}`);
  if (bodyClass === undefined || statuses.size === 0) return undefined;
  return {
    statuses,
    ...(jsonPath !== undefined && { path: jsonPath }),
    ...(equals !== undefined && { equals }),
    ...(contains !== undefined && { contains }),
    class: bodyClass,
  };
}
