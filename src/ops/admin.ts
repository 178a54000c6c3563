/**
 * The admin HTTP listener (Node's http, no framework): /healthz, /readyz, /metrics, the status
 * page, GET /v1/pools and the account actions. Off loopback, everything but the three probes
 * needs `Authorization: Bearer <token>` with the token from KEYSWITCH_ADMIN_TOKEN_FILE.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Logger } from 'pino';
import { STATUS_PAGE } from './status-page';

export type AccountAction = 'drain' | 'enable' | 'clear-cooldown';
const ACTIONS: readonly AccountAction[] = ['drain', 'enable', 'clear-cooldown'];

/** What the admin listener shows and does; provided by app.ts. */
export interface AdminSurface {
  /** Config loaded and not draining. */
  ready(): boolean;
  metrics(): Promise<{ contentType: string; body: string }>;
  pools(): unknown;
  /** The account after the action; 'no-pool' or 'no-account' when either is unknown. */
  act(pool: string, account: string, action: AccountAction): unknown;
}

export interface AdminOptions {
  /** A file holding the bearer token; when set, every non-probe route needs it. */
  readonly tokenFile: string | undefined;
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
export const ACTION_HEADER = 'x-keyswitch-action';
const ACTION_PATH = /^\/v1\/pools\/([^/]+)\/accounts\/([^/]+)\/([a-z-]+)$/;

export function createAdminServer(surface: AdminSurface, options: AdminOptions, logger: Logger): http.Server {
  return http.createServer((req, res) => {
    void route(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'bug: admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    });
  });

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://admin').pathname;
    } catch {
      return json(res, 400, { error: 'malformed request path' });
    }
    const method = req.method ?? 'GET';
    if (!PROBES.has(path) && options.tokenFile !== undefined && !authorized(req, options.tokenFile)) {
      res.setHeader('www-authenticate', 'Bearer realm="keyswitch"');
      return json(res, 401, { error: 'missing or wrong bearer token (see KEYSWITCH_ADMIN_TOKEN_FILE)' });
    }
    const action = ACTION_PATH.exec(path);
    if (action) {
      if (method !== 'POST') return json(res, 405, { error: `${path} takes POST` });
      // A header no cross-site form or no-cors fetch can send: a page in a local browser
      // cannot drain accounts through the loopback listener.
      if (req.headers[ACTION_HEADER] === undefined) return json(res, 403, { error: `actions need the ${ACTION_HEADER} header` });
      let parts: [string, string, string, string];
      try {
        parts = action.map((part) => decodeURIComponent(part ?? '')) as [string, string, string, string];
      } catch {
        return json(res, 400, { error: 'malformed request path' });
      }
      const [, pool, account, verb] = parts;
      if (!ACTIONS.includes(verb as AccountAction)) return json(res, 404, { error: `unknown action "${verb}" (one of ${ACTIONS.join(', ')})` });
      const result = surface.act(pool, account, verb as AccountAction);
      if (result === 'no-pool') return json(res, 404, { error: `no pool "${pool}"` });
      if (result === 'no-account') return json(res, 404, { error: `pool "${pool}" has no account "${account}"` });
      logger.info({ pool, account, action: verb }, 'operator action');
      return json(res, 200, result);
    }
    if (method !== 'GET') return json(res, 405, { error: `${path} takes GET` });
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'alive' });
      case '/readyz':
        return surface.ready() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' });
      case '/metrics': {
        const { contentType, body } = await surface.metrics();
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
        return;
      }
      case '/':
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          // The page is self-contained: nothing may load from anywhere else.
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        });
        res.end(STATUS_PAGE);
        return;
      case '/v1/pools':
        return json(res, 200, surface.pools());
      default:
        return json(res, 404, { error: `no such path ${path}` });
    }
  }
}

/** Compared as SHA-256 digests with timingSafeEqual, so neither length nor content leaks by timing. */
function authorized(req: http.IncomingMessage, tokenFile: string): boolean {
  const header = req.headers.authorization ?? '';
  const offered = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  let token: string;
  try {
    // Read per request, so a rotated token file applies at once.
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch {
    return false;
  }
  if (token === '' || offered === '') return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(offered), digest(token));
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
