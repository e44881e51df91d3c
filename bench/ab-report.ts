// bench:ab's arguments, and what it makes of the benchmark's output: parsing a run, lining up
// the runs of two builds, and the comparison table (bench/ab.ts runs them).
import { eachFlag } from './args.js';
import { textTableLines } from './report.js';

export interface AbArgs {
  base: string;
  sizeMiB: number;
  scenarios?: number;
  pairs: number;
  workDir?: string;
  keep: boolean;
  help: boolean;
}

export const AB_USAGE = `usage: npm run bench:ab -- --base REV [options]   (after npm run build)

  --base REV       the git revision to compare the current build against (required)
  --size-mib N     volume size in MiB (default 512)
  --scenarios N    measure only the first N scenarios (default all six)
  --pairs N        runs of each build, alternating (default 3)
  --work-dir DIR   where builds and runs go (default a new folder in the OS temp dir)
  --keep           keep the work dir afterwards
`;

export function parseAbArgs(argv: string[]): AbArgs {
  const a: AbArgs = { base: '', sizeMiB: 512, pairs: 3, keep: false, help: false };
  const int = (flag: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${flag} must be an integer from ${min} to ${max}, got ${v}`);
    return n;
  };
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--base':
        a.base = value();
        break;
      case '--size-mib':
        a.sizeMiB = int(flag, value(), 16, 1 << 20);
        break;
      case '--scenarios':
        a.scenarios = int(flag, value(), 1, 6);
        break;
      case '--pairs':
        a.pairs = int(flag, value(), 1, 15);
        break;
      case '--work-dir':
        a.workDir = value();
        break;
      case '--keep':
        a.keep = true;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  });
  if (!a.help && !a.base) throw new Error('--base REV is required (e.g. --base HEAD~1)');
  return a;
}

/** One scenario of one benchmark run, as bench/datapath prints it. */
export interface RunScenario {
  scenario: string;
  wallSeconds: number;
  cpuSeconds: number;
  /** snapshot, plan, transfer and commit milliseconds of the measured replication. */
  phases?: Record<string, number>;
}

/**
 * The Ferry rows of bench/datapath's result table (stdout) and the phases of each measured
 * replication (stderr: the `ferry phases:` line right before each `ferry: … s wall` line; the
 * steady scenario's warm-up rounds print phases without one). Throws when the table is missing.
 */
export function parseRun(stdout: string, stderr: string): RunScenario[] {
  const rows: RunScenario[] = [];
  for (const line of stdout.split('\n')) {
    // columns are separated by two or more spaces: scenario, tool, wall, vs rsync, bytes sent,
    // changed, CPU s, peak RSS
    const cols = line.trim().split(/\s{2,}/);
    if (cols.length !== 8 || cols[1] !== 'ferry') continue;
    const wall = Number(cols[2]);
    const cpu = Number(cols[6]);
    if (!Number.isFinite(wall) || !Number.isFinite(cpu)) continue;
    rows.push({ scenario: cols[0]!, wallSeconds: wall, cpuSeconds: cpu });
  }
  if (rows.length === 0) throw new Error('no Ferry rows in the benchmark output');
  const measured: Array<Record<string, number>> = [];
  let last: Record<string, number> | null = null;
  for (const line of stderr.split('\n')) {
    const p = /ferry phases: (.*?) \(agent/.exec(line);
    if (p) {
      last = {};
      for (const m of (p[1] as string).matchAll(/(\w+) (\d+) ms/g)) last[m[1] as string] = Number(m[2]);
    } else if (/ ferry: [\d.]+ s wall/.test(line) && last) {
      measured.push(last);
      last = null;
    }
  }
  if (measured.length === rows.length) rows.forEach((r, k) => (r.phases = measured[k]));
  return rows;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface Comparison {
  scenario: string;
  base: number[];
  head: number[];
  baseCpu: number[];
  headCpu: number[];
  /** Median phases per build, when every run printed them. */
  basePhases?: Record<string, number>;
  headPhases?: Record<string, number>;
  /** Pairs in which the head's wall time was below the base's. */
  headFaster: number;
}

/** Lines up runs of two builds by scenario; run k of each build forms pair k. */
export function compareRuns(base: RunScenario[][], head: RunScenario[][]): Comparison[] {
  const names = (base[0] ?? []).map((r) => r.scenario);
  const pick = (runs: RunScenario[][], name: string): RunScenario[] =>
    runs.map((run) => {
      const r = run.find((x) => x.scenario === name);
      if (!r) throw new Error(`scenario ${name} is missing from a run`);
      return r;
    });
  const phases = (rs: RunScenario[]): Record<string, number> | undefined => {
    if (rs.some((r) => !r.phases)) return undefined;
    const out: Record<string, number> = {};
    for (const k of Object.keys(rs[0]!.phases!)) out[k] = median(rs.map((r) => r.phases![k] ?? 0));
    return out;
  };
  return names.map((name) => {
    const b = pick(base, name);
    const h = pick(head, name);
    const bp = phases(b);
    const hp = phases(h);
    return {
      scenario: name,
      base: b.map((r) => r.wallSeconds),
      head: h.map((r) => r.wallSeconds),
      baseCpu: b.map((r) => r.cpuSeconds),
      headCpu: h.map((r) => r.cpuSeconds),
      ...(bp ? { basePhases: bp } : {}),
      ...(hp ? { headPhases: hp } : {}),
      headFaster: h.filter((r, k) => r.wallSeconds < (b[k] as RunScenario).wallSeconds).length,
    };
  });
}

/** The comparison as a table: medians with ranges, the change of the medians, pairs won. */
export function formatComparison(rows: Comparison[], baseName: string): string {
  const span = (xs: number[]): string =>
    xs.length > 1
      ? `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`
      : xs[0]!.toFixed(2);
  const phaseText = (p?: Record<string, number>): string =>
    p
      ? Object.values(p)
          .map((v) => v.toFixed(0))
          .join('/')
      : '–';
  return textTableLines(
    [
      'scenario',
      `${baseName} wall s`,
      'head wall s',
      'change',
      'head faster',
      `${baseName} CPU s`,
      'head CPU s',
      'phases ms (snapshot/plan/transfer/commit)',
    ],
    rows.map((r) => [
      r.scenario,
      span(r.base),
      span(r.head),
      `${(((median(r.head) - median(r.base)) / median(r.base)) * 100).toFixed(0)}%`,
      `${r.headFaster} of ${r.head.length}`,
      median(r.baseCpu).toFixed(2),
      median(r.headCpu).toFixed(2),
      `${phaseText(r.basePhases)} → ${phaseText(r.headPhases)}`,
    ]),
    1,
  ).join('\n');
}
