// bench:ab's arguments, and what it makes of the benchmark's output: parsing a run, lining up
// the runs of two builds, and the comparison table (bench/ab.ts runs them).
import { eachFlag, intFlag, parseArgs, type BenchArgs } from './args.js';
import { textTableLines } from './report.js';

export interface AbArgs {
  base: string;
  pairs: number;
  /** The benchmark's own options (bench/args.ts): size, seed, scenarios, agents, work dir. */
  bench: BenchArgs;
  help: boolean;
}

export const AB_USAGE = `usage: npm run bench:ab -- --base REV [options]   (after npm run build)

  --base REV         the git revision to compare the current build against (required)
  --pairs N          runs of each build, alternating (default 3)

and these of bench:datapath, for every run: --size-mib N (default 2048), --seed S, --scenarios N,
--cold-agents, --snapshot-first, --migration, --stream; --work-dir DIR and --keep apply to bench:ab's own folder (both
builds and the runs).
`;

/**
 * bench:ab's arguments: --base and --pairs, the rest as bench:datapath takes them (its parser
 * names a bad flag or value), except the ones bench:ab sets itself for every run.
 */
export function parseAbArgs(argv: string[]): AbArgs {
  let base = '';
  let pairs = 3;
  const rest: string[] = [];
  eachFlag(argv, (flag, value, arg) => {
    if (flag === '--base') base = value();
    else if (flag === '--pairs') pairs = intFlag(flag, value(), 1, 15);
    else if (['--tools', '--runs', '--no-save', '--no-verify-reads'].includes(flag))
      throw new Error(
        `${flag}: bench:ab sets it itself (Ferry only, one run per build and pair, nothing saved)`,
      );
    else rest.push(arg);
  });
  const bench = parseArgs(rest);
  if (!bench.help && !base) throw new Error('--base REV is required (e.g. --base HEAD~1)');
  return { base, pairs, bench, help: bench.help };
}

/** The options every benchmark run of bench:ab gets (besides its work dir). */
export function runArgs(b: BenchArgs): string[] {
  return [
    '--tools',
    'ferry',
    '--no-save',
    '--no-verify-reads',
    '--size-mib',
    String(b.sizeMiB),
    '--seed',
    b.seed,
    ...(b.scenarios ? ['--scenarios', String(b.scenarios)] : []),
    ...(b.coldAgents ? ['--cold-agents'] : []),
    ...(b.snapshotFirst ? ['--snapshot-first'] : []),
    ...(b.migration ? ['--migration'] : []),
    ...(b.stream ? ['--stream'] : []),
  ];
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

/**
 * The two-sided sign test's p-value for one build winning `k` of `n` pairs when neither is faster
 * (each pair a coin toss): how often a split at least this uneven comes from noise alone. With n
 * pairs it is never below 2 / 2^n: three pairs cannot show anything at 5% (0.25 at best), six
 * need all six (0.03).
 */
export function signTestP(k: number, n: number): number {
  if (n === 0) return 1;
  const far = Math.max(k, n - k);
  let tail = 0;
  let c = 1; // C(n, i), from i = 0
  for (let i = 0; i <= n; i++) {
    if (i >= far) tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
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
      'p (sign test)',
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
      signTestP(r.headFaster, r.head.length).toFixed(2),
      median(r.baseCpu).toFixed(2),
      median(r.headCpu).toFixed(2),
      `${phaseText(r.basePhases)} → ${phaseText(r.headPhases)}`,
    ]),
    1,
  ).join('\n');
}
