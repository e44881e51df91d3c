import {
  compareRuns,
  formatComparison,
  parseAbArgs,
  parseRun,
  runArgs,
  signTestP,
} from '../../../bench/ab-report.js';

// What bench/datapath prints (stdout: the table; stderr: progress), trimmed from a real 512 MiB run
// with three scenarios; the steady scenario's warm-up round prints phases without a result line.
const stdout = `
Ferry data path vs rsync and restic — 512.0 MiB volume, 2500 small files + db/data.db

scenario           tool   wall s  vs rsync  bytes sent   changed  CPU s  peak RSS MiB
-----------------  -----  ------  --------  ----------  --------  -----  ------------
full               ferry    3.93         –   514.2 MiB  512.0 MiB   5.78           228

pages-1pct         ferry    1.71         –     4.5 MiB    4.3 MiB   2.00           197

pages-1pct-steady  ferry    1.56         –     4.6 MiB    4.4 MiB   2.39           211

Ferry by stage (active seconds and share of Ferry's wall time; stages overlap):

scenario  agent   CPU s  CPU s/GiB  read
full      source   3.32       6.64  1.06 (25%)
`;
const stderr = `[bench    13.5s] scenario full: ferry
[bench    17.7s]   ferry phases: snapshot 3516 ms, plan 4 ms, transfer 1 ms, commit 396 ms (agent 3917 ms)
[bench    17.7s]   ferry: 3.93 s wall, 514.2 MiB sent, 5.78 CPU s, 228.2 MiB peak
[bench    21.5s]   ferry phases: snapshot 520 ms, plan 47 ms, transfer 939 ms, commit 181 ms (agent 1687 ms)
[bench    21.5s]   ferry: 1.71 s wall, 4.5 MiB sent, 2.00 CPU s, 197.3 MiB peak
[bench    36.9s]   ferry phases: snapshot 718 ms, plan 36 ms, transfer 647 ms, commit 262 ms (agent 1663 ms)
[bench    40.5s]   ferry phases: snapshot 800 ms, plan 29 ms, transfer 553 ms, commit 171 ms (agent 1553 ms)
[bench    40.5s]   ferry: 1.56 s wall, 4.6 MiB sent, 2.39 CPU s, 211.2 MiB peak
`;

describe('bench:ab', () => {
  it('reads each Ferry row and the phases of its measured replication', () => {
    const run = parseRun(stdout, stderr);
    expect(run.map((r) => [r.scenario, r.wallSeconds, r.cpuSeconds])).toEqual([
      ['full', 3.93, 5.78],
      ['pages-1pct', 1.71, 2.0],
      ['pages-1pct-steady', 1.56, 2.39],
    ]);
    expect(run[1]!.phases).toEqual({ snapshot: 520, plan: 47, transfer: 939, commit: 181 });
    // the warm-up round's phases (718 ms snapshot) are not the measured one's
    expect(run[2]!.phases).toEqual({ snapshot: 800, plan: 29, transfer: 553, commit: 171 });
    expect(() => parseRun('no table here', stderr)).toThrow(/no Ferry rows/);
  });

  it('compares the builds per scenario: medians, ranges, change and pairs won', () => {
    const run = (wall: number, cpu: number, commit: number) => [
      { scenario: 'pages-1pct', wallSeconds: wall, cpuSeconds: cpu, phases: { snapshot: 500, commit } },
    ];
    const base = [run(1.6, 2.0, 200), run(1.4, 1.8, 180), run(1.5, 1.9, 220)];
    const head = [run(1.3, 1.7, 100), run(1.5, 1.6, 120), run(1.2, 1.5, 110)];
    const [c] = compareRuns(base, head);
    expect(c!.headFaster).toBe(2); // pair 2: 1.5 against 1.4
    expect(c!.basePhases).toEqual({ snapshot: 500, commit: 200 });
    expect(c!.headPhases).toEqual({ snapshot: 500, commit: 110 });
    const text = formatComparison([c!], 'base');
    expect(text).toContain('1.50 (1.40–1.60)');
    expect(text).toContain('1.30 (1.20–1.50)');
    expect(text).toContain('-13%');
    expect(text).toContain('2 of 3');
    expect(text).toMatch(/2 of 3 +1\.00 /); // a 2-1 split is what noise gives most often
    expect(text).toContain('500/200 → 500/110');
    expect(() => compareRuns(base, [[], [], []])).toThrow(/scenario pages-1pct is missing/);
  });

  it.each([
    [0, 0, 1],
    [3, 3, 0.25],
    [0, 3, 0.25],
    [2, 3, 1],
    [6, 6, 2 / 64],
    [4, 6, (2 * 22) / 64],
    [5, 6, (2 * 7) / 64],
    [3, 6, 1],
    [9, 10, (2 * 11) / 1024],
  ])('signTestP: %i of %i pairs won gives p = %f', (k, n, p) => {
    expect(signTestP(k, n)).toBeCloseTo(p, 10);
  });

  it('signTestP is symmetric and never below 2 / 2^n', () => {
    for (let n = 1; n <= 12; n++)
      for (let k = 0; k <= n; k++) {
        expect(signTestP(k, n)).toBeCloseTo(signTestP(n - k, n), 12);
        expect(signTestP(k, n)).toBeGreaterThanOrEqual(2 / 2 ** n - 1e-12);
        expect(signTestP(k, n)).toBeLessThanOrEqual(1);
      }
  });

  it("takes --base and --pairs, and the benchmark's own options for every run", () => {
    const a = parseAbArgs([
      '--base',
      'HEAD~1',
      '--pairs=2',
      '--size-mib',
      '512',
      '--scenarios',
      '6',
      '--cold-agents',
    ]);
    expect(a.base).toBe('HEAD~1');
    expect(a.pairs).toBe(2);
    expect(runArgs(a.bench)).toEqual([
      '--tools',
      'ferry',
      '--no-save',
      '--no-verify-reads',
      '--size-mib',
      '512',
      '--seed',
      'ferry',
      '--scenarios',
      '6',
      '--cold-agents',
    ]);
    // --work-dir and --keep are bench:ab's own, not passed to each run
    const w = parseAbArgs(['--base', 'x', '--work-dir', '/tmp/w', '--keep']);
    expect([w.bench.workDir, w.bench.keep]).toEqual(['/tmp/w', true]);
    expect(runArgs(w.bench)).not.toContain('--keep');
    expect(() => parseAbArgs([])).toThrow(/--base REV is required/);
    expect(() => parseAbArgs(['--base'])).toThrow(/--base needs a value/);
    expect(() => parseAbArgs(['--base', 'x', '--pairs', '0'])).toThrow(
      /--pairs must be an integer from 1 to 15, got 0/,
    );
    expect(() => parseAbArgs(['--base', 'x', '--size-mib', '8'])).toThrow(
      /--size-mib must be an integer ≥ 16, got 8/,
    );
    expect(() => parseAbArgs(['--base', 'x', '--runs', '3'])).toThrow(/--runs: bench:ab sets it itself/);
    expect(() => parseAbArgs(['--base', 'x', '--frobnicate'])).toThrow(/unknown argument "--frobnicate"/);
    expect(parseAbArgs(['--help']).help).toBe(true);
  });
});
