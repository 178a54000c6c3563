/**
 * Reading plain config data field by field. Each reader checks one value at one field path,
 * records a problem and returns undefined when the value is wrong, so the walker can go on and
 * report every problem at once (grpc-js-xds validators; ratelimit `validKeys` for unknown keys).
 * Problems collects them for one source; ConfigError carries them to the caller.
 */
import { parseDuration } from '../core/duration';

/**
 * A config that cannot be used. `problems` lists every problem found in one pass, each naming
 * the source (file) and the field path, e.g.
 * `/etc/keyswitch/config.yaml: pools[0].accounts[2].weight: must be a number > 0, got "x"`.
 * No problem text ever contains a secret value.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

/** Collects problems for one source so that all of them are reported at once. */
export class Problems {
  readonly #source: string;
  readonly #list: string[] = [];

  constructor(source: string) {
    this.#source = source;
  }

  /** `path` is a field path such as `pools[0].cooldown.max`; empty means the whole document. */
  add(path: string, message: string): void {
    this.#list.push(path === '' ? `${this.#source}: ${message}` : `${this.#source}: ${path}: ${message}`);
  }

  /** A problem that has a position in the text rather than a field path (YAML syntax). */
  addAt(line: number, column: number, message: string): void {
    this.#list.push(`${this.#source}:${line}:${column}: ${message}`);
  }

  /** Throws one ConfigError listing everything collected so far, if anything was. */
  throwIfAny(): void {
    if (this.#list.length > 0) throw new ConfigError(this.#list);
  }
}

export type Mapping = Readonly<Record<string, unknown>>;

/** Pool names and account ids: they become metric labels and log fields. */
const NAME = /^[a-z0-9][a-z0-9_.-]*$/;
/** RFC 9110 token characters; names are lower-cased before this check. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Control characters other than tab cannot appear in a header value. */
export const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function item(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** A short description of a value for an error: JSON for scalars, the kind for collections. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  // JSON.stringify would print Infinity and NaN as null.
  const text = typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The kind of a value only, for fields whose content must never be echoed (secrets). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Fields {
  constructor(readonly problems: Problems) {}

  /**
   * A mapping whose keys are all in `allowed`. With `hideKeys` an unknown key is reported without
   * its name (used under `secret`, where a pasted key could be the credential itself).
   */
  mapping(value: unknown, path: string, allowed: readonly string[], hideKeys = false): Mapping | undefined {
    if (!isMapping(value)) {
      this.problems.add(path, `must be a mapping, got ${hideKeys ? kindOf(value) : describe(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (allowed.includes(key)) continue;
      const allowedText = `allowed: ${allowed.join(', ')}`;
      if (hideKeys) this.problems.add(path, `unknown key (${allowedText})`);
      else this.problems.add(at(path, key), `unknown key (${allowedText})`);
    }
    return value;
  }

  list(value: unknown, path: string, nonEmpty: boolean): readonly unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.problems.add(path, `must be a list, got ${describe(value)}`);
      return undefined;
    }
    if (nonEmpty && value.length === 0) {
      this.problems.add(path, 'must not be empty');
      return undefined;
    }
    return value;
  }

  name(value: unknown, path: string): string | undefined {
    if (typeof value === 'string' && NAME.test(value)) return value;
    this.problems.add(path, `must match [a-z0-9][a-z0-9_.-]*, got ${describe(value)}`);
    return undefined;
  }

  /** A non-empty string without control characters (cluster names, quota groups). */
  text(value: unknown, path: string): string | undefined {
    if (typeof value === 'string' && value.length > 0 && !CONTROL.test(value)) return value;
    this.problems.add(path, `must be a non-empty string without control characters, got ${describe(value)}`);
    return undefined;
  }

  /** A string that may be written into a header value: no control characters except tab. */
  headerValue(value: unknown, path: string): string | undefined {
    if (typeof value === 'string' && !CONTROL.test(value)) return value;
    this.problems.add(path, `must be a string without control characters, got ${describe(value)}`);
    return undefined;
  }

  /** A header name, lower-cased, made of HTTP token characters. */
  headerName(value: unknown, path: string): string | undefined {
    const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
    if (lower !== undefined && HEADER_NAME.test(lower)) return lower;
    this.problems.add(path, `must be an HTTP header name (token characters only), got ${describe(value)}`);
    return undefined;
  }

  /** A list of distinct header names, lower-cased. */
  headerList(value: unknown, path: string, nonEmpty: boolean): string[] | undefined {
    const entries = this.list(value, path, nonEmpty);
    if (entries === undefined) return undefined;
    const names: string[] = [];
    entries.forEach((entry, index) => {
      const name = this.headerName(entry, item(path, index));
      if (name === undefined) return;
      if (names.includes(name)) this.problems.add(item(path, index), `duplicate header ${JSON.stringify(name)}`);
      else names.push(name);
    });
    return names;
  }

  integer(value: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return value;
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    this.problems.add(path, `must be an integer ${range}, got ${describe(value)}`);
    return undefined;
  }

  positiveNumber(value: unknown, path: string): number | undefined {
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
    this.problems.add(path, `must be a number > 0, got ${describe(value)}`);
    return undefined;
  }

  /** A number in 0..1. */
  fraction(value: unknown, path: string): number | undefined {
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1) return value;
    this.problems.add(path, `must be a number in 0..1, got ${describe(value)}`);
    return undefined;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.problems.add(path, `must be true or false, got ${describe(value)}`);
    return undefined;
  }

  /** A Go-style duration string, in milliseconds; `allowZero` for bounds that may be 0s. */
  duration(value: unknown, path: string, allowZero = false): number | undefined {
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms !== undefined && (ms > 0 || (allowZero && ms === 0))) return ms;
    const bound = allowZero ? '>= 0' : '> 0';
    this.problems.add(path, `must be a duration ${bound} such as "30s", "1m30s" or "6h", got ${describe(value)}`);
    return undefined;
  }
}
