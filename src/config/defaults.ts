/**
 * Defaults for every optional config field, in one place so README and code agree.
 * Durations are in milliseconds.
 */
export const DEFAULTS = Object.freeze({
  /** When `credential` is omitted entirely. */
  credentialHeader: 'authorization',
  /**
   * `credential.prefix` when omitted: "Bearer " for the authorization header (OpenAI style),
   * "" for any other header (x-api-key, api-key carry the bare key). Set `prefix: ""` explicitly
   * to send a bare key in authorization.
   */
  bearerPrefix: 'Bearer ',
  stripHeaders: Object.freeze(['authorization', 'x-api-key', 'api-key']),
  failoverStatuses: Object.freeze([429, 529]),
  /** 401: the provider refused the key. 402 and 403 are common opt-ins. */
  disableOn: Object.freeze([401]),
  probeAfterMs: 10 * 60_000,
  probeMaxMs: 24 * 3_600_000,
  maxDisabledFraction: 0.5,
  errorBodyMaxBytes: 16_384,
  /** Inside Envoy's default message_timeout of 200 ms. */
  errorBodyWaitMs: 100,
  maxAttempts: 4,
  maxAttemptsLimit: 10,
  cooldownDefaultMs: 30_000,
  cooldownOverloadMs: 10_000,
  cooldownMaxMs: 6 * 3_600_000,
  stickyTtlMs: 3_600_000,
  stickyGraceMs: 60_000,
  stickyMaxBindings: 100_000,
  priority: 0,
  weight: 1,
});
