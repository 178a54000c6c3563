/**
 * What one response says about the account that sent it: a pure function of its status, the
 * pool's policy and (when the pool reads error bodies) the class an error-body rule gave it.
 * The scheduler turns the class into cooldowns, health changes and the retry decision.
 */
import type { BodyClass, BodyRule, PoolPolicy } from './policy';
import type { ResponseClass } from './decisions';

/** Provider overload, not the account's quota: Anthropic 529, OpenAI/Gemini 503. */
export function isOverload(status: number): boolean {
  return status === 529 || status === 503;
}

/**
 * In order: an error-body class wins over the status (an OpenAI 429 `insufficient_quota` is
 * billing, not a rate limit); a status in `disableOn` is an account fault, and a 402 (Payment
 * Required, RFC 9110 §15.5.3) there is billing; a failover status is overload (529/503) or a
 * rate limit; below 400 is success; anything else passes through untouched.
 */
export function classifyResponse(status: number, policy: PoolPolicy, bodyClass?: BodyClass): ResponseClass {
  if (bodyClass !== undefined) return bodyClass;
  if (policy.health.disableOn.has(status)) return status === 402 ? 'billing' : 'account-fault';
  if (policy.failoverStatuses.has(status)) return isOverload(status) ? 'overload' : 'rate-limit';
  return status < 400 ? 'success' : 'other';
}

/**
 * The class of the first rule that matches an error body, or undefined. A body that is not
 * JSON can still match `contains`; `path` rules need JSON.
 */
export function classifyBody(status: number, body: string, rules: readonly BodyRule[]): BodyClass | undefined {
  let json: unknown;
  let parsed = false;
  for (const rule of rules) {
    if (!rule.statuses.has(status)) continue;
    let subject: string | undefined = body;
    if (rule.path !== undefined) {
      if (!parsed) {
        json = parseJson(body);
        parsed = true;
      }
      subject = valueAt(json, rule.path);
      if (subject === undefined) continue;
      if (rule.equals !== undefined && subject !== rule.equals) continue;
    }
    if (rule.contains !== undefined && !subject.toLowerCase().includes(rule.contains.toLowerCase())) continue;
    return rule.class;
  }
  return undefined;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The string (or number, as text) at a dotted path; undefined for anything else. */
function valueAt(json: unknown, path: readonly string[]): string | undefined {
  let node = json;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (typeof node === 'string') return node;
  return typeof node === 'number' || typeof node === 'boolean' ? String(node) : undefined;
}
