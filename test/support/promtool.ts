/**
 * promtool, Prometheus's checker (Debian ships it in the `prometheus` package), for tests: check
 * and unit-test rule files, lint metrics exposition text.
 *
 * A test that needs it passes `{ skip: promtoolSkip() }`. Outside CI a missing promtool skips the
 * test with the reason; under CI=true promtoolSkip() never skips, so the test runs, the run
 * functions throw, and the missing tool fails the build (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface PromtoolResult {
  /** promtool's exit code. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout then stderr, for assertion messages. */
  readonly output: string;
}

export interface MetricsProblem {
  /** The metric the problem is about; '' when promtool could not read the text at all. */
  readonly metric: string;
  readonly text: string;
}

export interface MetricsLint extends PromtoolResult {
  /** Empty exactly when promtool exited 0. */
  readonly problems: readonly MetricsProblem[];
}

let found: string | null | undefined;

/** Absolute path of the first executable `promtool` on PATH, or undefined. */
export function findPromtool(): string | undefined {
  if (found === undefined) {
    found = null;
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (dir === '') continue;
      const candidate = path.join(dir, 'promtool');
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          found = candidate;
          break;
        }
      } catch {
        // not here
      }
    }
  }
  return found ?? undefined;
}

/** For node:test's `skip` option: the reason to skip, or false when the test must run. */
export function promtoolSkip(): string | false {
  if (findPromtool() !== undefined || process.env.CI === 'true') return false;
  return 'promtool is not on PATH (Debian/Ubuntu: apt-get install prometheus); under CI=true this is a failure';
}

/** Runs promtool with `args`, `input` on stdin. Throws only if promtool is missing or cannot run. */
export function promtool(args: readonly string[], input = ''): PromtoolResult {
  const bin = findPromtool();
  if (bin === undefined) {
    throw new Error('promtool not found on PATH; .ci/run installs it with the Debian package "prometheus"');
  }
  const run = spawnSync(bin, args, { input, encoding: 'utf8', timeout: 60_000 });
  if (run.error !== undefined) throw run.error;
  if (run.status === null) throw new Error(`promtool ${args.join(' ')} ended by ${run.signal}`);
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, output: run.stdout + run.stderr };
}

/** `promtool check rules FILE`: syntax and PromQL of a rule file; exit 0 when valid. */
export function checkRules(file: string): PromtoolResult {
  return promtool(['check', 'rules', file]);
}

/** `promtool test rules FILE`: runs a rule unit-test file; exit 0 when every test passes. */
export function testRules(file: string): PromtoolResult {
  return promtool(['test', 'rules', file]);
}

/**
 * `promtool check metrics` on exposition text. promtool prints one "<metric> <problem>" line per
 * lint problem on stderr and exits non-zero (3); text it cannot parse also exits non-zero (1), with
 * an "error while linting" line. Both become problems, so `problems` is empty only on exit 0.
 */
export function checkMetrics(exposition: string): MetricsLint {
  const result = promtool(['check', 'metrics'], exposition);
  if (result.code === 0) return { ...result, problems: [] };
  const lines = result.stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const problems = lines.map((line): MetricsProblem => {
    const space = line.indexOf(' ');
    return /^error\b/.test(line) || space === -1
      ? { metric: '', text: line }
      : { metric: line.slice(0, space), text: line.slice(space + 1) };
  });
  if (problems.length === 0) problems.push({ metric: '', text: `exit ${result.code}: ${result.output.trim()}` });
  return { ...result, problems };
}
