import { parseArgs } from '../../../bench/args.js';
import {
  checkTargets,
  formatBytes,
  formatChecks,
  formatTable,
  incrementalBudget,
  markdownTable,
  medianRuns,
  otherSections,
  padMarkdownTable,
  renderMarkdown,
  renderSvg,
  stageCells,
  type MachineLimits,
  type ResultRow,
} from '../../../bench/report.js';

const MiB = 1024 * 1024;
const volume = 1024 * MiB;
const row = (
  scenario: string,
  tool: string,
  wallSeconds: number,
  bytesSent: number,
  changedBytes: number,
): ResultRow => ({
  scenario,
  tool,
  wallSeconds,
  bytesSent,
  changedBytes,
  cpuSeconds: 1,
  peakRssBytes: 100 * MiB,
});
const limits: MachineLimits = { sha256MBps: 2000, seqReadCachedMBps: 10000, seqReadColdMBps: null };

describe('checkTargets', () => {
  const rows = [
    row('full', 'ferry', 1, volume, volume), // 1073 MB/s ≥ 1000
    row('full', 'rsync', 2, volume, volume),
    row('pages', 'ferry', 0.5, 20 * MiB, 10 * MiB), // budget 11 + 10.24 MiB
    row('pages', 'rsync', 1, 12 * MiB, 10 * MiB),
    row('unchanged', 'ferry', 0.3, 11 * MiB, 0), // budget 10.24 MiB: missed
    row('unchanged', 'rsync', 0.2, 1000, 0), // slower than rsync: missed
  ];
  const checks = checkTargets(rows, {
    volumeBytes: volume,
    limits,
    unchangedContentReads: { bytes: 0, files: 0, method: 'strace' },
  });
  const met = (prefix: string): boolean | null => checks.find((c) => c.target.startsWith(prefix))!.met;

  it('uses 1.1 × changed + 1% of the volume as the byte budget', () => {
    expect(incrementalBudget(10 * MiB, volume)).toBeCloseTo(11 * MiB + 0.01 * volume);
    expect(met('pages: bytes')).toBe(true);
    expect(met('unchanged: bytes')).toBe(false);
  });
  it('compares incremental wall time with rsync, not the full run', () => {
    expect(met('pages: wall')).toBe(true);
    expect(met('unchanged: wall')).toBe(false);
    expect(checks.some((c) => c.target.startsWith('full: wall'))).toBe(false);
  });
  it('compares full throughput with half the hashing limit', () => {
    expect(met('full replication')).toBe(true);
    const slow = checkTargets([row('full', 'ferry', 2, volume, volume)], { volumeBytes: volume, limits });
    expect(slow.find((c) => c.target.startsWith('full replication'))!.met).toBe(false);
  });
  it('reports unmeasured targets as null', () => {
    const none = checkTargets([row('full', 'rsync', 1, volume, volume), row('pages', 'rsync', 1, 1, 1)], {
      volumeBytes: volume,
      limits,
    });
    expect(none.every((c) => c.met === null)).toBe(true);
    expect(formatChecks(none)).toContain('[ -- ]');
  });
  it('passes the unchanged-reads target only at zero bytes', () => {
    expect(met('an unchanged volume')).toBe(true);
    const read = checkTargets(rows, {
      volumeBytes: volume,
      limits,
      unchangedContentReads: { bytes: 4096, files: 1, method: 'strace' },
    });
    expect(read.find((c) => c.target.startsWith('an unchanged'))!.met).toBe(false);
  });
});

describe('formatting', () => {
  const rows = [
    row('full', 'ferry', 1.5, 2 * MiB, 2 * MiB),
    row('full', 'rsync', 3, 2 * MiB, 2 * MiB),
    row('unchanged', 'ferry', 0.1, 500, 0),
  ];
  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * MiB)).toBe('10.0 MiB');
    expect(formatBytes(2048 * MiB)).toBe('2.00 GiB');
  });
  it('prints aligned rows with the ratio to rsync', () => {
    const t = formatTable(rows).split('\n');
    expect(t[0]).toMatch(/^scenario\s+tool\s+wall s\s+vs rsync/);
    expect(t.find((l) => l.startsWith('full') && l.includes('ferry'))).toContain('0.50×');
    expect(t.find((l) => l.startsWith('unchanged'))).toContain('–');
    expect(t).toContain('');
  });
  it('renders markdown and svg', () => {
    expect(markdownTable(rows).split('\n')).toHaveLength(5);
    const svg = renderSvg(rows);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(1 + 2 * rows.length);
  });
});

describe('padMarkdownTable', () => {
  it('pads every column to its widest cell (at least 3) with alignment rules, as Prettier does', () => {
    expect(
      padMarkdownTable(
        ['a', 'value'],
        [
          ['long name', '1'],
          ['x', '22'],
        ],
        [false, true],
      ).split('\n'),
    ).toEqual([
      '| a         | value |',
      '| :-------- | ----: |',
      '| long name |     1 |',
      '| x         |    22 |',
    ]);
  });
});

describe('parseArgs', () => {
  it('defaults to 2 GiB and every tool', () => {
    expect(parseArgs([])).toMatchObject({
      sizeMiB: 2048,
      tools: ['ferry', 'rsync', 'rsync-ssh', 'restic'],
      keep: false,
      save: true,
    });
  });
  it('reads flags in both spellings', () => {
    expect(
      parseArgs(['--size-mib', '64', '--tools=rsync,ferry', '--keep', '--no-save', '--scenarios=1']),
    ).toMatchObject({
      sizeMiB: 64,
      tools: ['ferry', 'rsync'],
      keep: true,
      save: false,
      scenarios: 1,
    });
    expect(parseArgs([]).scenarios).toBeUndefined();
    expect(parseArgs(['--tools', 'rsync-ssh,ferry']).tools).toEqual(['ferry', 'rsync-ssh']);
  });
  it('names bad input', () => {
    expect(() => parseArgs(['--size-mib', 'x'])).toThrow('--size-mib must be an integer');
    expect(() => parseArgs(['--tools', 'scp'])).toThrow('unknown tool "scp"');
    expect(() => parseArgs(['--bogus'])).toThrow('unknown argument "--bogus"');
    expect(() => parseArgs(['--scenarios', '0'])).toThrow('--scenarios must be an integer ≥ 1, got 0');
    expect(() => parseArgs(['--runs', '0'])).toThrow('--runs must be an integer from 1 to 15, got 0');
    expect(() => parseArgs(['--runs', '2.5'])).toThrow('--runs must be an integer from 1 to 15, got 2.5');
  });
  it('repeats the benchmark with --runs', () => {
    expect(parseArgs([]).runs).toBe(1);
    expect(parseArgs(['--runs', '3']).runs).toBe(3);
  });
});

describe('medianRuns', () => {
  const runs = [
    [row('full', 'ferry', 5, 1, 1), row('full', 'rsync', 2, 1, 1), row('unchanged', 'ferry', 0.3, 9, 0)],
    [row('full', 'ferry', 3, 2, 1), row('full', 'rsync', 2.5, 2, 1), row('unchanged', 'ferry', 0.2, 8, 0)],
    [row('full', 'ferry', 4, 3, 1), row('full', 'rsync', 1, 3, 1)],
  ];
  it("takes each scenario and tool's median run whole, with the range of wall times", () => {
    const picked = medianRuns(runs);
    expect(picked.map((p) => [p.row.scenario, p.row.tool, p.run, p.row.bytesSent, p.row.wallRange])).toEqual([
      ['full', 'ferry', 2, 3, [3, 5]],
      ['full', 'rsync', 0, 1, [1, 2.5]],
      // two runs: the lower of the middle two
      ['unchanged', 'ferry', 1, 8, [0.2, 0.3]],
    ]);
  });
  it('leaves a single run as it is, and shows ranges in the table', () => {
    expect(medianRuns([runs[0]!]).map((p) => p.row)).toEqual(runs[0]);
    const table = formatTable(medianRuns(runs).map((p) => p.row));
    expect(table).toContain('4.00 (3.00–5.00)');
    expect(table).toContain('2.00 (1.00–2.50)');
  });
});

describe('Ferry stage breakdown', () => {
  it('gives each agent its CPU, CPU per GiB changed (64 MiB or more) and each stage with its share of wall', () => {
    const rows = [row('full', 'ferry', 10, 2048 * MiB, 2048 * MiB), row('unchanged', 'ferry', 0.5, 1000, 0)];
    const details = [
      {
        scenario: 'full',
        tool: 'ferry',
        sourceCpuSeconds: 8,
        destinationCpuSeconds: 4,
        'stage.source.read.seconds': 2.5,
        'stage.source.send.seconds': 9,
        'stage.destination.write.seconds': 1,
      },
      { scenario: 'unchanged', tool: 'ferry', sourceCpuSeconds: 0.1, destinationCpuSeconds: 0.05 },
      { scenario: 'full', tool: 'rsync' },
    ];
    const cells = stageCells(rows, details);
    expect(cells).toHaveLength(4);
    expect(cells[0]).toEqual([
      'full',
      'source',
      '8.00',
      '4.00',
      '2.50 (25%)',
      '–',
      '–',
      '–',
      '9.00 (90%)',
      '–',
      '–',
    ]);
    expect(cells[1]).toEqual([
      'full',
      'destination',
      '4.00',
      '2.00',
      '–',
      '–',
      '–',
      '–',
      '–',
      '–',
      '1.00 (10%)',
    ]);
    expect(cells[2]!.slice(0, 4)).toEqual(['unchanged', 'source', '0.10', '–']);
  });

  it('keeps the sections other benchmarks wrote into docs/benchmarks.md', () => {
    const md =
      '# Benchmarks\n\n## Data path: Ferry\n\nold table\n\n## Resources: x\n\nkept\n\n## Schedules\n\nkept too\n';
    expect(otherSections(md)).toBe('\n## Resources: x\n\nkept\n\n## Schedules\n\nkept too\n');
    expect(otherSections('# Benchmarks\n\n## Data path: Ferry\n')).toBe('');
  });
});

describe('machine table', () => {
  const doc = (l: MachineLimits, ferryDataPort?: string): string =>
    renderMarkdown({
      command: 'npm run bench:datapath',
      date: '2026-12-01T00:00:00Z',
      volumeBytes: volume,
      datasetDescription: 'test',
      scenarioDescriptions: [],
      machine: {
        cpus: 2,
        cpuModel: 'test',
        memoryBytes: 8 * 1024 * MiB,
        kernel: 'Linux',
        node: 'v20',
        rsync: 'rsync 3',
        restic: 'restic 0.14',
        loadAverageAtStart: [0, 0, 0],
        ...(ferryDataPort ? { ferryDataPort } : {}),
      },
      limits: l,
      rows: [],
      checks: [],
      notes: [],
    });
  it('lists the per-byte primitives when they were measured, and only then', () => {
    const md = doc({ ...limits, cutMBps: 1234.4, pageCacheWriteMBps: 2500, tlsMBpsPerCpu: 610.6 });
    expect(md).toMatch(/\| Ferry's chunker \(FastCDC cut points, one core\) +\| 1234 MB\/s +\|/);
    expect(md).toMatch(/\| 1 MiB writes into the page cache +\| 2500 MB\/s +\|/);
    expect(md).toMatch(/\| node:tls on loopback \(both ends, 1 MiB writes\) +\| 611 MB per CPU-second +\|/);
    expect(doc(limits)).not.toMatch(/chunker|into the page cache|node:tls/);
  });

  it("names Ferry's data port transport when Ferry ran, and only then", () => {
    expect(doc(limits, 'plain HTTP (--data-plaintext)')).toMatch(
      /\| Ferry's data port +\| plain HTTP \(--data-plaintext\) +\|/,
    );
    expect(doc(limits)).not.toMatch(/Ferry's data port/);
  });
});
