/** Walks one entry of `pools[i].accounts` into an AccountSpec plus its resolved Secret. */
import type { AccountSpec } from '../core/policy';
import { DEFAULTS } from './defaults';
import { at, Fields } from './schema';
import type { Secret } from './secret';
import { resolveSecret, type SecretSources } from './secrets';

const ACCOUNT_KEYS = ['id', 'secret', 'priority', 'weight', 'quotaGroup', 'maxConcurrency'] as const;

export interface AccountDraft {
  /** Field path of this account, e.g. `pools[0].accounts[2]`. */
  readonly path: string;
  /** undefined when the id is missing or invalid (already reported). */
  readonly id: string | undefined;
  readonly spec: AccountSpec;
  readonly secret: Secret | undefined;
}

export function walkAccount(value: unknown, path: string, fields: Fields, sources: SecretSources): AccountDraft | undefined {
  const raw = fields.mapping(value, path, ACCOUNT_KEYS);
  if (raw === undefined) return undefined;
  const problems = fields.problems;

  let id: string | undefined;
  if (raw.id === undefined) problems.add(at(path, 'id'), 'is required');
  else id = fields.name(raw.id, at(path, 'id'));

  let secret: Secret | undefined;
  if (raw.secret === undefined) problems.add(at(path, 'secret'), 'is required (secret: { file: /path } or { env: NAME })');
  else secret = resolveSecret(raw.secret, at(path, 'secret'), id === undefined ? '' : `account ${id}`, sources, fields);

  const priority = raw.priority === undefined ? DEFAULTS.priority : fields.integer(raw.priority, at(path, 'priority'), 0);
  const weight = raw.weight === undefined ? DEFAULTS.weight : fields.positiveNumber(raw.weight, at(path, 'weight'));
  const quotaGroup = raw.quotaGroup === undefined ? undefined : fields.text(raw.quotaGroup, at(path, 'quotaGroup'));
  const maxConcurrency =
    raw.maxConcurrency === undefined ? undefined : fields.integer(raw.maxConcurrency, at(path, 'maxConcurrency'), 1);

  // Optional fields are left out rather than set to undefined, so dumps stay clean.
  const spec: AccountSpec = {
    id: id ?? '',
    priority: priority ?? DEFAULTS.priority,
    weight: weight ?? DEFAULTS.weight,
    ...(quotaGroup === undefined ? {} : { quotaGroup }),
    ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
  };
  return { path, id, spec, secret };
}
