/**
 * Account credentials: the Secret that never prints, and resolving an account's
 * `secret: { file } | { env }` into one. Errors name the account and the file path or variable
 * name, never the value; and a `secret` field's content is echoed only once it is known to be a
 * path or a variable name, because an operator may paste the key itself.
 */
import { inspect } from 'node:util';
import { at, CONTROL, Fields, kindOf, type Problems } from './fields';

const REDACTED = '[redacted]';

/**
 * An account credential. The value is held in a private field and only `reveal()` returns it, so
 * String(), template literals, JSON.stringify and util.inspect (hence loggers) see '[redacted]'
 * by construction; redaction in the logger is the second net, not the first.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    Object.freeze(this);
  }

  /** The credential itself; call only where it is written into an outgoing header. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** The environment secrets are read from; only `secret: { env }` names are looked up. */
export type Env = Readonly<Record<string, string | undefined>>;
/** Reads a `secret: { file }` path; throws (ideally with an errno code) when it cannot. */
export type ReadSecretFile = (path: string) => string;

export interface SecretSources {
  readonly env: Env;
  readonly readFile: ReadSecretFile;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `accountLabel` is e.g. `account oa-1` (or empty when the id itself is invalid).
 * Returns undefined, with a problem recorded, when no usable secret was found.
 */
export function resolveSecret(
  value: unknown,
  path: string,
  accountLabel: string,
  sources: SecretSources,
  fields: Fields,
): Secret | undefined {
  const problems = fields.problems;
  const ref = fields.mapping(value, path, ['file', 'env'], true);
  if (ref === undefined) return undefined;
  const hasFile = ref.file !== undefined;
  const hasEnv = ref.env !== undefined;
  if (hasFile === hasEnv) {
    problems.add(path, 'must set exactly one of file or env');
    return undefined;
  }
  const prefix = accountLabel === '' ? '' : `${accountLabel}: `;
  return hasFile
    ? fromFile(ref.file, at(path, 'file'), prefix, sources.readFile, problems)
    : fromEnv(ref.env, at(path, 'env'), prefix, sources.env, problems);
}

function fromFile(file: unknown, path: string, prefix: string, readFile: ReadSecretFile, problems: Problems): Secret | undefined {
  // Only an absolute path is echoed: the sidecar's working directory is arbitrary, and
  // anything else may be a pasted key.
  if (typeof file !== 'string' || !file.startsWith('/') || CONTROL.test(file)) {
    problems.add(path, `must be an absolute file path, got ${kindOf(file)}`);
    return undefined;
  }
  let content: string;
  try {
    content = readFile(file);
  } catch (err) {
    // The code only: some readers put file content or more in their messages.
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'read error';
    problems.add(path, `${prefix}cannot read secret file ${file} (${code})`);
    return undefined;
  }
  return checked(content, path, `${prefix}secret file ${file}`, problems);
}

function fromEnv(name: unknown, path: string, prefix: string, env: Env, problems: Problems): Secret | undefined {
  if (typeof name !== 'string' || !ENV_NAME.test(name)) {
    problems.add(path, `must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got ${kindOf(name)}`);
    return undefined;
  }
  // keyswitch reads KEYSWITCH_* as its settings and refuses names it does not know.
  if (name.startsWith('KEYSWITCH_')) {
    problems.add(path, `${name}: the KEYSWITCH_ prefix is reserved for keyswitch's settings; name the variable otherwise`);
    return undefined;
  }
  const content = env[name];
  if (content === undefined) {
    problems.add(path, `${prefix}environment variable ${name} is not set`);
    return undefined;
  }
  return checked(content, path, `${prefix}environment variable ${name}`, problems);
}

/**
 * Trailing whitespace (the newline of `echo key > file`) is not part of the key. Header values
 * cannot carry control characters, so a multi-line file is a mistake, not a key.
 */
function checked(content: string, path: string, what: string, problems: Problems): Secret | undefined {
  const value = content.trimEnd();
  if (value === '') {
    problems.add(path, `${what} is empty`);
    return undefined;
  }
  if (CONTROL.test(value)) {
    problems.add(path, `${what} contains a line break or control character`);
    return undefined;
  }
  return new Secret(value);
}
