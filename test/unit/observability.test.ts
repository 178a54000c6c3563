// envoy/observability/ is checked as strictly as the code that feeds it: promtool validates and
// unit-tests the alerting rules, every metric the rules and the dashboard read must be one keyswitch
// exports (so renaming a metric breaks this test, not a dashboard in production), and the dashboard
// must be a self-contained Grafana JSON model. Each checker is also fed a deliberately broken copy
// to prove it catches what it is for.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import * as YAML from 'yaml';
import { checkMetrics, checkRules, promtoolSkip, testRules } from '../support/promtool';
import { readRepoFile, repoPath } from '../support/repo-files';

// ---- the metrics keyswitch exports on its admin /metrics ----

type MetricType = 'counter' | 'gauge' | 'histogram';
/** A label's allowed values; null: any value (pool, account and status names are the operator's). */
type LabelValues = readonly string[] | null;
interface MetricFamily {
  readonly type: MetricType;
  readonly help: string;
  readonly labels: Readonly<Record<string, LabelValues>>;
}

const OUTCOMES = ['success', 'rate_limited', 'overloaded', 'refused', 'other', 'unanswered'];
const FAILOVER_CAUSES = ['rate_limit', 'overload', 'account_fault', 'billing'];
const COOLDOWN_CAUSES = ['rate_limit', 'overload', 'headroom', 'quota_group', 'escalated', 'billing', 'disabled'];
const ACCOUNT_STATES = ['available', 'cooling', 'disabled', 'probing', 'at_capacity', 'drained'];
const MESSAGES = ['request_headers', 'response_headers', 'response_body'];

const FAMILIES: Readonly<Record<string, MetricFamily>> = {
  keyswitch_attempts_total: { type: 'counter', help: 'Attempts by the provider answer.', labels: { pool: null, account: null, outcome: OUTCOMES } },
  keyswitch_failovers_total: { type: 'counter', help: 'Failovers absorbed: the client did not see the error.', labels: { pool: null, cause: FAILOVER_CAUSES } },
  keyswitch_client_errors_total: { type: 'counter', help: 'Answers that reached the client with a failover or fault status.', labels: { pool: null, status: null } },
  keyswitch_pool_exhausted_total: { type: 'counter', help: 'Requests that found no usable account.', labels: { pool: null } },
  keyswitch_accounts: { type: 'gauge', help: 'Accounts by state.', labels: { pool: null, state: ACCOUNT_STATES } },
  keyswitch_account_cooldown_remaining_seconds: { type: 'gauge', help: 'Seconds until a cooling account is usable.', labels: { pool: null, account: null } },
  keyswitch_cooldowns_started_total: { type: 'counter', help: 'Cooldowns started by cause.', labels: { pool: null, cause: COOLDOWN_CAUSES } },
  keyswitch_provider_wide_faults_total: { type: 'counter', help: 'Faults held off by the mass-fault guard.', labels: { pool: null } },
  keyswitch_decision_duration_seconds: { type: 'histogram', help: 'Time to answer an ext_proc message.', labels: { message: MESSAGES } },
  keyswitch_open_streams: { type: 'gauge', help: 'Open ext_proc streams.', labels: {} },
  keyswitch_protocol_violations_total: { type: 'counter', help: 'Streams ended for a protocol violation.', labels: {} },
  keyswitch_request_memory_fallbacks_total: { type: 'counter', help: 'Retries served from the local request memory.', labels: {} },
  keyswitch_config_reloads_total: { type: 'counter', help: 'Configuration reloads by result.', labels: { result: ['success', 'failure'] } },
  // prom-client default metrics (prefix keyswitch_) that the rules and the dashboard read.
  keyswitch_process_cpu_seconds_total: { type: 'counter', help: 'Total user and system CPU time spent in seconds.', labels: {} },
  keyswitch_process_resident_memory_bytes: { type: 'gauge', help: 'Resident memory size in bytes.', labels: {} },
  keyswitch_nodejs_eventloop_lag_p50_seconds: { type: 'gauge', help: 'The 50th percentile of the recorded event loop delays.', labels: {} },
  keyswitch_nodejs_eventloop_lag_p99_seconds: { type: 'gauge', help: 'The 99th percentile of the recorded event loop delays.', labels: {} },
  keyswitch_nodejs_gc_duration_seconds: { type: 'histogram', help: 'Garbage collection duration by kind.', labels: { kind: null } },
};
/** Labels Prometheus attaches at scrape time. */
const TARGET_LABELS = ['job', 'instance'];
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'];

/** Series names a query can select, with the labels each carries. */
function seriesLabels(): Map<string, Readonly<Record<string, LabelValues>>> {
  const series = new Map<string, Readonly<Record<string, LabelValues>>>();
  for (const [name, family] of Object.entries(FAMILIES)) {
    if (family.type !== 'histogram') series.set(name, family.labels);
    else for (const suffix of HISTOGRAM_SERIES) series.set(name + suffix, suffix === '_bucket' ? { ...family.labels, le: null } : family.labels);
  }
  return series;
}
const SERIES = seriesLabels();
const METRIC_TOKEN = /\bkeyswitch_[a-z0-9_]+/g;

/**
 * Problems with the keyswitch metrics one PromQL (or Grafana label_values) expression selects: a
 * name keyswitch does not export (a histogram is queried through _bucket/_sum/_count only), a label
 * the metric does not have, a value its label never takes.
 */
function metricProblems(where: string, expr: string): string[] {
  const problems: string[] = [];
  for (const match of expr.matchAll(/\b(keyswitch_[a-z0-9_]+)\s*(?:\{([^}]*)\})?/g)) {
    const name = match[1]!;
    const labels = SERIES.get(name);
    if (labels === undefined) {
      problems.push(FAMILIES[name]?.type === 'histogram'
        ? `${where}: ${name} is a histogram; query ${HISTOGRAM_SERIES.map((s) => name + s).join(', ')}`
        : `${where}: keyswitch exports no metric ${name}`);
      continue;
    }
    for (const matcher of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      const [, label, op, value] = matcher as unknown as [string, string, string, string];
      if (TARGET_LABELS.includes(label)) continue;
      if (!(label in labels)) {
        problems.push(`${where}: ${name} has no label ${label}`);
        continue;
      }
      const allowed = labels[label];
      if (allowed === null || allowed === undefined) continue;
      const regex = op === '=~' || op === '!~';
      // A regex is checked when it is a plain alternation of values; ".*" or "$pool" is not.
      if (regex && !/^[a-z0-9_|]+$/.test(value)) continue;
      for (const v of regex ? value.split('|') : [value]) {
        if (!allowed.includes(v)) problems.push(`${where}: ${name}{${label}} is never "${v}" (one of ${allowed.join(', ')})`);
      }
    }
  }
  return problems;
}

/** Problems with every keyswitch_ name in prose (comments, descriptions): names only. */
function proseProblems(where: string, text: string): string[] {
  const names = new Set([...SERIES.keys(), ...Object.keys(FAMILIES)]);
  return [...new Set(text.match(METRIC_TOKEN) ?? [])].filter((name) => !names.has(name)).map((name) => `${where}: keyswitch exports no metric ${name}`);
}

// ---- alerts.yaml ----

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile { groups: { name: string; rules: AlertRule[] }[] }

const ALERTS_FILE = repoPath('envoy', 'observability', 'alerts.yaml');
const ALERTS_TEST_FILE = repoPath('envoy', 'observability', 'alerts.test.yaml');

function parseYaml<T>(text: string): T {
  return YAML.parse(text, { uniqueKeys: true, strict: true }) as T;
}

function alertRules(text: string): AlertRule[] {
  return parseYaml<RuleFile>(text).groups.flatMap((group) => group.rules);
}

function alertMetricProblems(text: string): string[] {
  return [
    ...alertRules(text).flatMap((rule) => metricProblems(`alert ${rule.alert}`, rule.expr)),
    ...proseProblems('alerts.yaml', text),
  ];
}

/** A scratch directory, removed after `body`. */
function inTempDir<T>(body: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyswitch-observability-'));
  try {
    return body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Replaces one exact piece of a file's text, failing if it is not there (the copy must be broken). */
function breakText(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `the text to break contains ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

describe('alerts.yaml', () => {
  const text = readRepoFile('envoy', 'observability', 'alerts.yaml');

  test('promtool check rules accepts it', { skip: promtoolSkip() }, () => {
    const result = checkRules(ALERTS_FILE);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, new RegExp(`SUCCESS: ${alertRules(text).length} rules found`));
  });

  test('promtool test rules passes alerts.test.yaml', { skip: promtoolSkip() }, () => {
    const result = testRules(ALERTS_TEST_FILE);
    assert.equal(result.code, 0, result.output);
  });

  test('reads only metrics, labels and label values keyswitch exports', () => {
    assert.deepEqual(alertMetricProblems(text), []);
  });

  test('every rule is an alert in group keyswitch with for, severity, summary and description', () => {
    const file = parseYaml<RuleFile>(text);
    assert.deepEqual(file.groups.map((group) => group.name), ['keyswitch']);
    const names = new Set<string>();
    for (const rule of alertRules(text)) {
      assert.match(rule.alert ?? '', /^Keyswitch[A-Z][A-Za-z]+$/, `rule ${rule.record ?? rule.expr}`);
      const name = rule.alert!;
      assert.ok(!names.has(name), `${name} is defined once`);
      names.add(name);
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${name} for`);
      assert.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${name} severity is warning or critical`);
      for (const field of ['summary', 'description']) {
        const annotation = rule.annotations?.[field] ?? '';
        assert.ok(annotation.trim() !== '', `${name} has a ${field}`);
        // A pool-level alert names its pool; an alert whose expression drops the label must not
        // try (the template would render empty).
        assert.equal(annotation.includes('{{ $labels.pool }}'), /\bby \(pool\b/.test(rule.expr), `${name} ${field} uses {{ $labels.pool }} exactly when the expression keeps pool`);
      }
    }
  });

  test('alerts.test.yaml proves every alert both fires and stays quiet', () => {
    interface RuleTest { alertname: string; exp_alerts?: unknown[] }
    const tests = parseYaml<{ rule_files: string[]; tests: { alert_rule_test?: RuleTest[] }[] }>(readRepoFile('envoy', 'observability', 'alerts.test.yaml'));
    assert.deepEqual(tests.rule_files, ['alerts.yaml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of alertRules(text)) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${rule.alert} is tested firing`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} is tested quiet`);
    }
    const known = new Set(alertRules(text).map((rule) => rule.alert));
    for (const c of cases) assert.ok(known.has(c.alertname), `alerts.test.yaml tests an alert alerts.yaml defines: ${c.alertname}`);
  });

  test('the metric check catches a misspelt metric, a bare histogram and an unknown label value', () => {
    const broken = breakText(
      breakText(text, 'keyswitch_client_errors_total', 'keyswitch_client_error_total'),
      'state=~"disabled|probing"', 'state=~"disabled|probed"',
    ) + '\n# see keyswitch_decision_duration_secs\n';
    const problems = alertMetricProblems(broken);
    assert.ok(problems.some((p) => p.includes('alert KeyswitchClientVisibleErrors') && p.includes('no metric keyswitch_client_error_total')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('alert KeyswitchAccountsDisabled') && p.includes('never "probed"')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('alerts.yaml: keyswitch exports no metric keyswitch_decision_duration_secs')), problems.join('\n'));
    assert.deepEqual(metricProblems('expr', 'rate(keyswitch_decision_duration_seconds[5m])'),
      ['expr: keyswitch_decision_duration_seconds is a histogram; query keyswitch_decision_duration_seconds_bucket, keyswitch_decision_duration_seconds_sum, keyswitch_decision_duration_seconds_count']);
    assert.deepEqual(metricProblems('expr', 'keyswitch_decision_duration_seconds_count{pool="a"}'),
      ['expr: keyswitch_decision_duration_seconds_count has no label pool']);
  });

  test('promtool test rules fails when an alert reads a misspelt metric', { skip: promtoolSkip() }, () => {
    inTempDir((dir) => {
      fs.writeFileSync(path.join(dir, 'alerts.yaml'), breakText(text, 'keyswitch_client_errors_total', 'keyswitch_client_error_total'));
      fs.copyFileSync(ALERTS_TEST_FILE, path.join(dir, 'alerts.test.yaml'));
      const result = testRules(path.join(dir, 'alerts.test.yaml'));
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, /KeyswitchClientVisibleErrors/);
    });
  });

  test('promtool check rules rejects a PromQL syntax error', { skip: promtoolSkip() }, () => {
    inTempDir((dir) => {
      const file = path.join(dir, 'alerts.yaml');
      fs.writeFileSync(file, breakText(text, 'absent(up{job="keyswitch"})', 'absent(up{job="keyswitch"}'));
      const result = checkRules(file);
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, /KeyswitchAbsent.*parse error/);
    });
  });
});

// ---- grafana-dashboard.json ----

interface Target { expr?: unknown; refId?: unknown; datasource?: unknown }
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  datasource?: { type?: unknown; uid?: unknown } | null;
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
}
interface Variable { name?: unknown; type?: unknown; query?: unknown; definition?: unknown; datasource?: unknown }
interface Dashboard {
  uid?: unknown;
  title?: unknown;
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  __requires?: { type?: unknown; id?: unknown }[];
}

const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const POOL_QUERY = 'label_values(keyswitch_accounts, pool)';
/** Panel types that ship with Grafana: the dashboard needs no plugin. */
const CORE_PANELS = new Set(['row', 'timeseries', 'stat', 'bargauge', 'gauge', 'table', 'text', 'barchart', 'piechart', 'heatmap', 'histogram', 'state-timeline', 'status-history']);

function allPanels(panels: Panel[] | undefined): Panel[] {
  return (panels ?? []).flatMap((panel) => [panel, ...allPanels(panel.panels)]);
}

/** Every query the dashboard runs: its panels' targets and its query variables. */
function dashboardQueries(dashboard: Dashboard): { where: string; expr: string; promql: boolean }[] {
  const queries: { where: string; expr: string; promql: boolean }[] = [];
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      if (typeof target.expr === 'string') queries.push({ where: `panel ${panel.id} "${panel.title}" ${target.refId}`, expr: target.expr, promql: true });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query?: unknown } | undefined)?.query;
    if (typeof query === 'string') queries.push({ where: `variable ${variable.name}`, expr: query, promql: false });
  }
  return queries;
}

function dashboardMetricProblems(text: string): string[] {
  const dashboard = JSON.parse(text) as Dashboard;
  return [
    ...dashboardQueries(dashboard).flatMap((q) => metricProblems(q.where, q.expr)),
    ...proseProblems('grafana-dashboard.json', text),
  ];
}

/** Problems with the dashboard's shape: ids, datasources, targets, panel types, layout, variables. */
function dashboardProblems(dashboard: Dashboard): string[] {
  const problems: string[] = [];
  if (typeof dashboard.uid !== 'string' || dashboard.uid === '') problems.push('no uid');
  if (typeof dashboard.title !== 'string' || dashboard.title === '') problems.push('no title');
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 36) problems.push(`schemaVersion ${dashboard.schemaVersion}: datasource references need 36 or later`);
  const variables = dashboard.templating?.list ?? [];
  const ds = variables.find((v) => v.name === 'DS_PROMETHEUS');
  if (ds?.type !== 'datasource' || ds.query !== 'prometheus') problems.push('no datasource variable DS_PROMETHEUS of type prometheus');
  const pool = variables.find((v) => v.name === 'pool');
  const poolQuery = typeof pool?.query === 'string' ? pool.query : (pool?.query as { query?: unknown } | undefined)?.query;
  if (pool?.type !== 'query' || poolQuery !== POOL_QUERY) problems.push(`no query variable pool from ${POOL_QUERY}`);
  else if (JSON.stringify(pool.datasource) !== JSON.stringify(DATASOURCE)) problems.push('variable pool does not query ${DS_PROMETHEUS}');
  for (const req of dashboard.__requires ?? []) {
    if (req.type === 'panel' && !CORE_PANELS.has(String(req.id))) problems.push(`requires plugin ${req.id}`);
  }

  const ids = new Set<unknown>();
  for (const panel of allPanels(dashboard.panels)) {
    const name = `panel ${panel.id} "${panel.title}"`;
    if (!Number.isInteger(panel.id)) problems.push(`${name}: id is not an integer`);
    else if (ids.has(panel.id)) problems.push(`${name}: id used twice`);
    ids.add(panel.id);
    if (typeof panel.type !== 'string' || !CORE_PANELS.has(panel.type)) problems.push(`${name}: type ${panel.type} is not a core panel`);
    const grid = panel.gridPos;
    if (grid === undefined || !(grid.w >= 1 && grid.x >= 0 && grid.x + grid.w <= 24 && grid.h >= 1 && grid.y >= 0)) problems.push(`${name}: gridPos outside the 24-column grid`);
    if (panel.type === 'row') continue; // a row groups panels; it runs no query
    if (JSON.stringify(panel.datasource) !== JSON.stringify(DATASOURCE)) problems.push(`${name}: datasource is not \${DS_PROMETHEUS}`);
    const targets = panel.targets ?? [];
    if (targets.length === 0) problems.push(`${name}: no target`);
    const refIds = new Set<unknown>();
    for (const target of targets) {
      if (typeof target.expr !== 'string' || target.expr.trim() === '') problems.push(`${name}: target ${target.refId} has no expr`);
      if (typeof target.refId !== 'string' || refIds.has(target.refId)) problems.push(`${name}: target refId ${target.refId} missing or repeated`);
      refIds.add(target.refId);
      if (target.datasource !== undefined && JSON.stringify(target.datasource) !== JSON.stringify(DATASOURCE)) problems.push(`${name}: target ${target.refId} uses another datasource`);
    }
  }
  return problems;
}

/** Grafana's variables replaced by values Prometheus accepts, so promtool can parse the query. */
function asPromql(expr: string): string {
  const values: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '6h', pool: '.*' };
  const promql = expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => values[name] ?? whole);
  assert.ok(!promql.includes('$'), `every Grafana variable in ${expr} has a stand-in`);
  return promql;
}

/** The dashboard's PromQL queries as one recording-rule file, for `promtool check rules`. */
function queriesAsRuleFile(dashboard: Dashboard): string {
  const rules = dashboardQueries(dashboard).filter((q) => q.promql).map((q, i) => ({
    record: `dashboard:query_${i}`,
    expr: asPromql(q.expr),
  }));
  return YAML.stringify({ groups: [{ name: 'dashboard', rules }] });
}

describe('grafana-dashboard.json', () => {
  const text = readRepoFile('envoy', 'observability', 'grafana-dashboard.json');
  const dashboard = JSON.parse(text) as Dashboard;

  test('is a self-contained dashboard: unique ids, a datasource and a target on every panel', () => {
    assert.deepEqual(dashboardProblems(dashboard), []);
    assert.ok(allPanels(dashboard.panels).filter((p) => p.type !== 'row').length >= 12, 'the panels the dashboard promises');
  });

  test('reads only metrics, labels and label values keyswitch exports', () => {
    assert.deepEqual(dashboardMetricProblems(text), []);
  });

  test('every query is valid PromQL (promtool check rules)', { skip: promtoolSkip() }, () => {
    inTempDir((dir) => {
      const file = path.join(dir, 'dashboard-queries.yaml');
      fs.writeFileSync(file, queriesAsRuleFile(dashboard));
      const result = checkRules(file);
      assert.equal(result.code, 0, result.output);
      const count = dashboardQueries(dashboard).filter((q) => q.promql).length;
      assert.ok(count >= 12);
      assert.match(result.output, new RegExp(`SUCCESS: ${count} rules found`));
    });
  });

  test('the shape check catches a repeated id, a missing datasource, a panel with no target and a plugin', () => {
    const broken = JSON.parse(text) as Dashboard;
    const [first, second, third, fourth] = allPanels(broken.panels).filter((p) => p.type !== 'row');
    second!.id = first!.id;
    delete second!.datasource;
    third!.targets = [];
    fourth!.type = 'grafana-polystat-panel';
    const problems = dashboardProblems(broken);
    for (const expected of ['id used twice', 'datasource is not ${DS_PROMETHEUS}', 'no target', 'is not a core panel']) {
      assert.ok(problems.some((p) => p.includes(expected)), `${expected} in:\n${problems.join('\n')}`);
    }
  });

  test('the metric check catches a misspelt metric, a bare histogram and an unknown state', () => {
    let broken = breakText(text, 'keyswitch_pool_exhausted_total', 'keyswitch_pools_exhausted_total');
    broken = breakText(broken, 'keyswitch_decision_duration_seconds_bucket', 'keyswitch_decision_duration_seconds');
    broken = breakText(broken, 'state=\\"available\\"', 'state=\\"idle\\"');
    const problems = dashboardMetricProblems(broken);
    for (const expected of ['no metric keyswitch_pools_exhausted_total', 'keyswitch_decision_duration_seconds is a histogram', 'never "idle"']) {
      assert.ok(problems.some((p) => p.startsWith('panel ') && p.includes(expected)), `${expected} in:\n${problems.join('\n')}`);
    }
  });

  test('promtool check rules rejects a broken dashboard query', { skip: promtoolSkip() }, () => {
    const broken = JSON.parse(text) as Dashboard;
    const target = allPanels(broken.panels).find((p) => p.type === 'timeseries')!.targets![0]!;
    target.expr = `sum by (pool (${String(target.expr)})`;
    inTempDir((dir) => {
      const file = path.join(dir, 'dashboard-queries.yaml');
      fs.writeFileSync(file, queriesAsRuleFile(broken));
      const result = checkRules(file);
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, /parse error/);
    });
  });
});

// ---- the metric names themselves ----

/** Exposition text with one sample of every family, as keyswitch would serve it. */
function exposition(families: Readonly<Record<string, MetricFamily>>): string {
  const sampleValue: Record<string, string> = { pool: 'openai', account: 'acct-1', status: '429', kind: 'minor' };
  const lines: string[] = [];
  for (const [name, family] of Object.entries(families)) {
    const labels = Object.entries(family.labels).map(([label, values]) => `${label}="${values?.[0] ?? sampleValue[label] ?? 'x'}"`);
    const set = (extra: string[] = []) => ([...labels, ...extra].length === 0 ? '' : `{${[...labels, ...extra].join(',')}}`);
    lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
    if (family.type === 'histogram') {
      lines.push(`${name}_bucket${set(['le="0.005"'])} 1`, `${name}_bucket${set(['le="+Inf"'])} 1`, `${name}_sum${set()} 0.001`, `${name}_count${set()} 1`);
    } else {
      lines.push(`${name}${set()} 0`);
    }
  }
  return lines.join('\n') + '\n';
}

describe('metric names', () => {
  test('promtool check metrics finds no lint problem in the names, types and units the files rely on', { skip: promtoolSkip() }, () => {
    const result = checkMetrics(exposition(FAMILIES));
    assert.deepEqual(result.problems, [], result.output);
  });

  test('promtool check metrics reports a counter without _total and a non-base unit', { skip: promtoolSkip() }, () => {
    const result = checkMetrics(exposition({
      keyswitch_pool_exhausted: { type: 'counter', help: 'no _total suffix', labels: { pool: null } },
      keyswitch_cooldown_remaining_milliseconds: { type: 'gauge', help: 'not a base unit', labels: {} },
    }));
    assert.notEqual(result.code, 0);
    assert.deepEqual(result.problems.map((p) => p.metric).sort(), ['keyswitch_cooldown_remaining_milliseconds', 'keyswitch_pool_exhausted']);
  });

  test('promtool check metrics reports text it cannot parse as a problem', { skip: promtoolSkip() }, () => {
    const result = checkMetrics('keyswitch_open_streams{{ 1\n');
    assert.notEqual(result.code, 0);
    assert.equal(result.problems.length, 1, result.output);
    assert.equal(result.problems[0]!.metric, '');
  });
});
