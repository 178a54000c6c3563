/**
 * An Envoy-like header map: ordered (name, value) entries with lower-case names, pseudo headers
 * (":authority", ":path", ":status", ...) kept in front, values as latin1 strings so that bytes
 * survive the round trip through raw_value unchanged.
 *
 * Envoy's router keeps ONE request-header map per downstream request and every upstream attempt's
 * filters mutate it in place (upstream_request.cc UpstreamRequestFilterManagerCallbacks::
 * requestHeaders returns the router's downstream headers). The emulator passes the same HeaderMap
 * object to every attempt to reproduce that.
 */
import type { PbHeaderMap } from './wire';

export type HeaderEntry = [name: string, value: string];

export class HeaderMap {
  private list: HeaderEntry[] = [];

  static of(entries: Iterable<readonly [string, string]>): HeaderMap {
    const map = new HeaderMap();
    for (const [name, value] of entries) map.add(name, value);
    return map;
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    return this.list.find(([n]) => n === key)?.[1];
  }

  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.list.filter(([n]) => n === key).map(([, v]) => v);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replace every value of `name` with one value, keeping the first entry's position (setCopy). */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
    const index = this.list.findIndex(([n]) => n === key);
    if (index < 0) {
      this.add(key, value);
      return;
    }
    this.list[index] = [key, value];
    this.list = this.list.filter(([n], i) => n !== key || i === index);
  }

  /** Add one more value (addCopy); pseudo headers go after the other pseudo headers. */
  add(name: string, value: string): void {
    const key = name.toLowerCase();
    if (key.startsWith(':')) {
      const firstRegular = this.list.findIndex(([n]) => !n.startsWith(':'));
      if (firstRegular >= 0) {
        this.list.splice(firstRegular, 0, [key, value]);
        return;
      }
    }
    this.list.push([key, value]);
  }

  remove(name: string): void {
    const key = name.toLowerCase();
    this.list = this.list.filter(([n]) => n !== key);
  }

  /** A copy of the entries, in order. */
  entries(): HeaderEntry[] {
    return this.list.map(([n, v]) => [n, v]);
  }

  clone(): HeaderMap {
    return HeaderMap.of(this.list);
  }

  /** Plain object view: name → value, repeated names joined with ",". Handy in assertions. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [n, v] of this.list) out[n] = out[n] === undefined ? v : `${out[n]},${v}`;
    return out;
  }

  /**
   * The map as config.core.v3.HeaderMap, values in raw_value only: Envoy >= 1.32 sends raw_value
   * (PR #35388 removed the send_header_raw_value guard; mutation_utils.cc headersToProto).
   */
  toProto(): PbHeaderMap {
    return { headers: this.list.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) };
  }
}

/** Envoy's HeaderUtility::headerNameIsValid: token characters; pseudo headers lower case only. */
export function headerNameIsValid(name: string): boolean {
  if (name.startsWith(':')) return /^:[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name);
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}

/** Envoy's HeaderUtility::headerValueIsValid: no NUL, CR or LF. */
export function headerValueIsValid(value: string): boolean {
  return !/[\0\r\n]/.test(value);
}
