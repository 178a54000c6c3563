/**
 * Sticky sessions: keep a conversation on one account so the provider's prompt cache keeps
 * paying off (OpenAI and Anthropic prompt caching
 * docs: a cache lives with the organization that wrote it), without letting a long cooldown hold the session hostage.
 */
import { createHash } from 'node:crypto';
import type { HeaderLookup, StickyPolicy } from './policy';

/**
 * The session key of a request: sha256 (hex) of the pool name and the first non-empty value of
 * the configured session headers, so that raw session ids are never stored or logged and the
 * same id in two pools gives two keys. Undefined when the pool is not sticky or no header is set.
 */
export function sessionKeyOf(sticky: StickyPolicy | undefined, header: HeaderLookup, pool: string): string | undefined {
  if (sticky === undefined) return undefined;
  for (const name of sticky.headers) {
    const value = header(name);
    if (value === undefined || value === '') continue;
    // NUL separates the parts so that ("ab", "c") and ("a", "bc") never collide.
    return createHash('sha256').update(pool).update('\u0000').update(value).digest('hex');
  }
  return undefined;
}

/** What to do with an existing binding whose account could not serve this attempt. */
export type RebindVerdict = 'keep' | 'rebind';

/**
 * A bound account that cools for longer than the grace period loses its session; a shorter
 * blip (or a tried / saturated account that is not cooling) keeps it, so the session returns
 * to its account, and its prompt cache, once the blip is over.
 */
export function rebindVerdict(sticky: StickyPolicy, boundCoolingUntil: number | undefined, now: number): RebindVerdict {
  if (boundCoolingUntil === undefined) return 'keep';
  return boundCoolingUntil - now > sticky.graceMs ? 'rebind' : 'keep';
}
