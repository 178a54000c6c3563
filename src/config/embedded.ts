/**
 * The demo pool keyswitch runs when started without KEYSWITCH_CONFIG, so a first `keyswitch`
 * works out of the box. It is for trying keyswitch, never for production: its placeholder keys
 * (`demo-key-a`, ...) are not secrets and no provider accepts them. It goes through the same
 * parseConfig path as a file, so it can never drift from the real format.
 */
import type { CompiledConfig } from './compile';
import { parseConfig } from './load';
import type { Env } from './secrets';

export const EMBEDDED_SOURCE = '<embedded demo config>';

const EMBEDDED_CONFIG_YAML = `\
# keyswitch demo pool: for trying keyswitch only, never production.
pools:
  - name: demo
    # no match: a single pool serves every cluster
    credential: { header: authorization, prefix: "Bearer " }
    failover: { statuses: [429, 529], maxAttempts: 4 }
    cooldown: { default: 30s, overload: 10s, max: 6h }
    sticky: { headers: [session_id, x-session-id] }
    accounts:
      - id: demo-a
        secret: { env: DEMO_KEY_A }
      - id: demo-b
        secret: { env: DEMO_KEY_B }
      - id: demo-c
        secret: { env: DEMO_KEY_C }
`;

/** Placeholder keys used when the variable is unset or empty. */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  DEMO_KEY_A: 'demo-key-a',
  DEMO_KEY_B: 'demo-key-b',
  DEMO_KEY_C: 'demo-key-c',
};

export function embeddedConfig(env: Env): CompiledConfig {
  const filled: Record<string, string | undefined> = {};
  for (const [name, placeholder] of Object.entries(PLACEHOLDERS)) {
    const value = env[name];
    filled[name] = value === undefined || value.trim() === '' ? placeholder : value;
  }
  // Only the three demo variables are visible to the embedded config.
  return parseConfig(EMBEDDED_CONFIG_YAML, EMBEDDED_SOURCE, filled, () => {
    throw new Error('the embedded config reads no files');
  });
}
