// deploy/grafana/ferry.json: every PromQL expression in it (panel queries and template variables)
// names only metrics the worker and the agent register, so the dashboard cannot silently chart
// nothing after a rename.
import fs from 'node:fs';
import { Registry } from 'prom-client';
import { agentMetrics, type AgentMetricSources } from '../../../datapath/agent/agent-metrics.js';
import { Metrics } from '../../../datapath/agent/metrics.js';
import { WorkerMetrics } from '../../../workers/metrics.js';

const DASHBOARD = new URL('../../../deploy/grafana/ferry.json', import.meta.url);

/** Metric names an expression reads: identifiers that are not functions, labels, keywords or literals. */
function metricNames(expr: string): string[] {
  const variables = expr.match(/label_values\(\s*([A-Za-z_:][\w:]*)\s*,/);
  if (variables) return [variables[1]!];
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const after = bare.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (['and', 'or', 'unless', 'bool', 'offset', 'Inf', 'NaN'].includes(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function expressions(dashboard: Obj): string[] {
  const exprs: string[] = [];
  for (const p of dashboard.panels) for (const t of p.targets ?? []) exprs.push(t.expr);
  for (const v of dashboard.templating?.list ?? [])
    if (v.type === 'query') exprs.push(typeof v.query === 'string' ? v.query : v.query.query);
  return exprs;
}

function registered(): Map<string, string> {
  const worker = new Registry();
  new WorkerMetrics(worker);
  const agent = new Metrics();
  // Sources are read only at scrape time; registering needs none.
  agentMetrics(agent, {} as AgentMetricSources);
  const types = new Map<string, string>();
  for (const m of [...worker.getMetricsAsArray(), ...agent.registry.getMetricsAsArray()])
    types.set(m.name, String(m.type));
  return types;
}

/** The registered metric a series name belongs to (a histogram's _bucket/_sum/_count included). */
function owner(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && types.get(base) === 'histogram' ? base : undefined;
}

describe('metricNames', () => {
  it.each([
    [
      'sum by (status) (increase(ferry_migrations_total{namespace=~"$namespace"}[1h]))',
      ['ferry_migrations_total'],
    ],
    [
      'histogram_quantile(0.95, sum by (le) (rate(ferry_migration_duration_seconds_bucket[1h])))',
      ['ferry_migration_duration_seconds_bucket'],
    ],
    ['rate(a_total[5m]) / on (instance) b_total > bool 0', ['a_total', 'b_total']],
    ['label_values(ferry_migrations_total, namespace)', ['ferry_migrations_total']],
    ['max by (volume) (x{volume="sum(y)"})', ['x']],
  ])('%s', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});

describe('deploy/grafana/ferry.json', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const types = registered();

  it('has the panels operators look for', () => {
    const titles = dashboard.panels.map((p: { title: string }) => p.title).join('\n');
    for (const want of [
      /by final status/,
      /Bytes migrated per second/,
      /RPO per schedule/,
      /Skipped triggers/,
      /Agent transfer rate/,
    ])
      expect(titles).toMatch(want);
  });

  it('reads only metrics the worker or the agent registers', () => {
    const exprs = expressions(dashboard);
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const unknown = exprs.flatMap((e) =>
      metricNames(e)
        .filter((n) => !owner(n, types))
        .map((n) => `${n} in ${e}`),
    );
    expect(unknown).toEqual([]);
  });

  it('would catch a renamed metric', () => {
    expect(owner('ferry_migrations_total', types)).toBe('ferry_migrations_total');
    expect(owner('ferry_migration_duration_seconds_bucket', types)).toBe('ferry_migration_duration_seconds');
    expect(owner('ferry_migration_total', types)).toBeUndefined();
    // a counter has no _sum series (the agent's snapshot_duration_seconds_sum is its own counter)
    expect(owner('ferry_migrations_total_sum', types)).toBeUndefined();
    expect(owner('ferry_agent_snapshot_duration_seconds_sum', types)).toBe(
      'ferry_agent_snapshot_duration_seconds_sum',
    );
  });
});
