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

  get count(): number {
    return this.#list.length;
  }

  /** Throws one ConfigError listing everything collected so far, if anything was. */
  throwIfAny(): void {
    if (this.#list.length > 0) throw new ConfigError(this.#list);
  }
}
