/**
 * The status page at GET /: one self-contained HTML document (no external assets, no framework).
 * It polls /v1/pools, counts cooldowns down locally between polls (against the server's clock,
 * from the `now` each answer carries), and posts the account actions. When the admin listener
 * wants a token, the page asks for it once and keeps it for the tab's session.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>keyswitch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 .25rem; }
  .meta { color: #57606a; margin-bottom: 1rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; white-space: nowrap; }
  th { background: #f0f3f6; font-weight: 600; }
  .state { font-weight: 600; padding: .1rem .4rem; border-radius: .3rem; }
  .available { background: #dafbe1; } .cooling { background: #fff8c5; } .disabled { background: #ffebe9; }
  .probing { background: #ddf4ff; } .drained { background: #eaeef2; } .at-capacity { background: #fbefff; }
  button { margin-right: .3rem; }
  #error { color: #cf222e; }
  code { font-size: 12px; }
</style>
</head>
<body>
<h1>keyswitch</h1>
<div class="meta">Refreshes every 2 s. <span id="updated"></span> <span id="error"></span></div>
<div id="pools"></div>
<script>
(() => {
  let offset = 0;
  let data = null;
  const token = () => sessionStorage.getItem('keyswitch-token');
  const headers = () => (token() ? { authorization: 'Bearer ' + token() } : {});

  async function call(path, init) {
    const send = () => fetch(path, { method: (init && init.method) || 'GET', headers: { ...headers(), ...(init && init.action ? { 'x-keyswitch-action': '1' } : {}) } });
    let res = await send();
    if (res.status === 401) {
      const entered = prompt('keyswitch admin token');
      if (!entered) throw new Error('an admin token is required');
      sessionStorage.setItem('keyswitch-token', entered.trim());
      res = await send();
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  function text(tag, content, className) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = content;
    return el;
  }

  function remaining(iso) {
    if (!iso) return '';
    const seconds = Math.max(0, Math.ceil((Date.parse(iso) - (Date.now() + offset)) / 1000));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + 'h' : '') + (h || m ? m + 'm' : '') + s + 's';
  }

  function render() {
    if (!data) return;
    const root = document.getElementById('pools');
    root.replaceChildren();
    for (const pool of data.pools) {
      root.append(text('h2', pool.name));
      root.append(text('div', 'failovers absorbed: ' + pool.absorbed + ' · client-visible errors: ' + pool.clientVisible, 'meta'));
      const table = document.createElement('table');
      const head = document.createElement('tr');
      for (const title of ['account', 'state', 'cooldown', 'cause', 'escalation', 'probe in', 'in flight', 'sessions', 'last failover', 'key', 'actions']) head.append(text('th', title));
      table.append(head);
      for (const a of pool.accounts) {
        const row = document.createElement('tr');
        row.dataset.account = a.id;
        row.append(text('td', a.id));
        const state = document.createElement('td');
        state.append(text('span', a.state, 'state ' + a.state));
        row.append(state);
        row.append(text('td', remaining(a.coolingUntil), 'countdown'));
        row.append(text('td', a.disabledCause || a.cooldownCause || ''));
        row.append(text('td', String(a.escalation)));
        row.append(text('td', remaining(a.probeAt)));
        row.append(text('td', String(a.inFlight)));
        row.append(text('td', String(a.stickySessions)));
        row.append(text('td', a.lastFailover ? a.lastFailover.cause : ''));
        const key = document.createElement('td');
        key.append(text('code', a.fingerprint));
        row.append(key);
        const actions = document.createElement('td');
        for (const action of ['drain', 'enable', 'clear-cooldown']) {
          const button = text('button', action);
          button.dataset.action = action;
          button.onclick = () => act(pool.name, a.id, action);
          actions.append(button);
        }
        row.append(actions);
        table.append(row);
      }
      root.append(table);
    }
  }

  async function refresh() {
    try {
      data = await call('/v1/pools');
      offset = Date.parse(data.now) - Date.now();
      document.getElementById('error').textContent = '';
      document.getElementById('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
      render();
    } catch (error) {
      document.getElementById('error').textContent = String(error.message || error);
    }
  }

  async function act(pool, account, action) {
    try {
      await call('/v1/pools/' + encodeURIComponent(pool) + '/accounts/' + encodeURIComponent(account) + '/' + action, { method: 'POST', action: true });
    } catch (error) {
      document.getElementById('error').textContent = String(error.message || error);
    }
    await refresh();
  }

  refresh();
  setInterval(refresh, 2000);
  // Countdowns move between polls without another request.
  setInterval(() => {
    if (!data) return;
    for (const pool of data.pools) for (const a of pool.accounts) {
      const cell = document.querySelector('tr[data-account="' + CSS.escape(a.id) + '"] .countdown');
      if (cell) cell.textContent = remaining(a.coolingUntil);
    }
  }, 250);
})();
</script>
</body>
</html>
`;
