import { inspect } from 'node:util';

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
