/** One measured (scenario, tool) pair: the record written to bench/results/datapath.json. */
export interface ResultRow {
  scenario: string;
  tool: string;
  wallSeconds: number;
  bytesSent: number;
  changedBytes: number;
  cpuSeconds: number;
  peakRssBytes: number;
  /** With several runs (--runs): the fastest and slowest wall time, this row being the median run. */
  wallRange?: [number, number];
}

export interface MachineLimits {
  /** node:crypto SHA-256 on one core, MB/s (10^6 bytes). */
  sha256MBps: number;
  /** Sequential 1 MiB reads of the big file from the page cache, MB/s. */
  seqReadCachedMBps: number;
  /** The same after dropping the page cache, or null when that was not permitted. */
  seqReadColdMBps: number | null;
  /** BLAKE3 (the agents' native module) on one core, MB/s (absent in older results). */
  blake3MBps?: number | null;
  /** Ferry's chunker (FastCDC cut points) on one core, MB/s (absent in older results). */
  cutMBps?: number;
  /** 1 MiB writes into the page cache, MB/s. */
  pageCacheWriteMBps?: number;
  /** node:tls on loopback, MB per CPU-second with both ends in one process. */
  tlsMBpsPerCpu?: number;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  rsync: string;
  /** OpenSSH's version (the rsync-ssh peer); absent in results saved before it existed. */
  ssh?: string;
  restic: string;
  loadAverageAtStart: number[];
  /** Which Ferry build the agents ran (git describe, digest of the copied dist/). */
  ferryBuild?: string;
  /** How Ferry's destination served its data port: TLS (default) or plain HTTP. */
  ferryDataPort?: string;
}

export interface TargetCheck {
  target: string;
  /** null when it could not be checked (the tool did not run). */
  met: boolean | null;
  detail: string;
}

export interface TargetInputs {
  volumeBytes: number;
  limits: MachineLimits;
  /**
   * Bytes of volume files the Ferry source agent read during the "unchanged" scenario, and how
   * that was established; undefined when not measured.
   */
  unchangedContentReads?: {
    bytes: number;
    files: number;
    method: string;
    control?: { bytes: number; fileSize: number };
  };
}

export const FULL = 'full';
export const UNCHANGED = 'unchanged';

export function find(rows: ResultRow[], scenario: string, tool: string): ResultRow | undefined {
  return rows.find((r) => r.scenario === scenario && r.tool === tool);
}

/** Scenarios in first-seen order. */
export function scenarios(rows: ResultRow[]): string[] {
  return [...new Set(rows.map((r) => r.scenario))];
}

export function tools(rows: ResultRow[]): string[] {
  return [...new Set(rows.map((r) => r.tool))];
}

/** The byte budget for an incremental replication: 1.1 × changed bytes + 1% of the volume. */
export function incrementalBudget(changedBytes: number, volumeBytes: number): number {
  return 1.1 * changedBytes + 0.01 * volumeBytes;
}

/** Evaluates the issue's targets for the "ferry" rows against rsync's rows and the machine limits. */
export function checkTargets(rows: ResultRow[], inputs: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const incremental = scenarios(rows).filter((s) => s !== FULL);
  for (const s of incremental) {
    const f = find(rows, s, 'ferry');
    const budget = incrementalBudget(f?.changedBytes ?? 0, inputs.volumeBytes);
    checks.push({
      target: `${s}: bytes sent ≤ 1.1 × changed + 1% of volume`,
      met: f ? f.bytesSent <= budget : null,
      detail: f ? `${formatBytes(f.bytesSent)} sent, budget ${formatBytes(budget)}` : 'ferry not measured',
    });
  }
  for (const s of incremental) {
    const f = find(rows, s, 'ferry');
    const r = find(rows, s, 'rsync');
    checks.push({
      target: `${s}: wall time ≤ rsync's`,
      met: f && r ? f.wallSeconds <= r.wallSeconds : null,
      detail:
        f && r
          ? `ferry ${f.wallSeconds.toFixed(2)} s, rsync ${r.wallSeconds.toFixed(2)} s (${ratio(f.wallSeconds, r.wallSeconds)})`
          : 'not measured',
    });
  }
  const full = find(rows, FULL, 'ferry');
  const half = 0.5 * inputs.limits.sha256MBps;
  const mbps = full ? full.changedBytes / 1e6 / full.wallSeconds : 0;
  checks.push({
    target: 'full replication ≥ 50% of the hashing limit',
    met: full ? mbps >= half : null,
    detail: full
      ? `${mbps.toFixed(0)} MB/s vs 50% of ${inputs.limits.sha256MBps.toFixed(0)} MB/s = ${half.toFixed(0)} MB/s`
      : 'ferry not measured',
  });
  const u = inputs.unchangedContentReads;
  checks.push({
    target: 'an unchanged volume reads no file contents',
    met: u ? u.bytes === 0 : null,
    detail: u
      ? `${formatBytes(u.bytes)} read from ${u.files} volume files (${u.method}${u.control ? `; control: after touching one ${formatBytes(u.control.fileSize)} file the same trace saw ${formatBytes(u.control.bytes)} read` : ''})`
      : 'not measured',
  });
  return checks;
}

export function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1.00×' : '∞';
  return `${(a / b).toFixed(2)}×`;
}

export function formatBytes(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1024) return `${Math.round(n)} B`;
  if (abs < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (abs < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

const HEADERS = ['scenario', 'tool', 'wall s', 'vs rsync', 'bytes sent', 'changed', 'CPU s', 'peak RSS MiB'];

function cells(rows: ResultRow[]): string[][] {
  return rows.map((r) => {
    const rs = find(rows, r.scenario, 'rsync');
    return [
      r.scenario,
      r.tool,
      r.wallRange
        ? `${r.wallSeconds.toFixed(2)} (${r.wallRange[0].toFixed(2)}–${r.wallRange[1].toFixed(2)})`
        : r.wallSeconds.toFixed(2),
      rs ? ratio(r.wallSeconds, rs.wallSeconds) : '–',
      formatBytes(r.bytesSent),
      formatBytes(r.changedBytes),
      r.cpuSeconds.toFixed(2),
      (r.peakRssBytes / 1024 / 1024).toFixed(0),
    ];
  });
}

/** A plain-text table, columns padded; numbers right-aligned. */
/**
 * Per scenario and tool, the run (an index into `runs`) whose wall time is the median (the lower
 * one of the middle two for an even count), and that run's row with the range of wall times over
 * all runs. Rows keep the first run's order; a pair missing from some runs (a tool that failed)
 * is taken over the runs that have it.
 */
export function medianRuns(
  runs: ReadonlyArray<readonly ResultRow[]>,
): Array<{ row: ResultRow; run: number }> {
  const keys: string[] = [];
  const byKey = new Map<string, Array<{ row: ResultRow; run: number }>>();
  runs.forEach((rows, run) => {
    for (const row of rows) {
      const k = `${row.scenario}\u0000${row.tool}`;
      if (!byKey.has(k)) {
        keys.push(k);
        byKey.set(k, []);
      }
      (byKey.get(k) as Array<{ row: ResultRow; run: number }>).push({ row, run });
    }
  });
  return keys.map((k) => {
    const all = [...(byKey.get(k) as Array<{ row: ResultRow; run: number }>)].sort(
      (a, b) => a.row.wallSeconds - b.row.wallSeconds || a.run - b.run,
    );
    const mid = all[Math.floor((all.length - 1) / 2)] as { row: ResultRow; run: number };
    if (all.length === 1) return mid;
    const range: [number, number] = [
      (all[0] as { row: ResultRow }).row.wallSeconds,
      (all[all.length - 1] as { row: ResultRow }).row.wallSeconds,
    ];
    return { row: { ...mid.row, wallRange: range }, run: mid.run };
  });
}

/**
 * A plain-text table: every column as wide as its widest cell, the first `left` columns aligned
 * left and the rest right, two spaces between columns. Returns the header, the rule and one line
 * per row.
 */
export function textTableLines(headers: string[], body: string[][], left = 2): string[] {
  const all = [headers, ...body];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}

export function formatTable(rows: ResultRow[]): string {
  const body = cells(rows);
  const [head, sep, ...lines] = textTableLines(HEADERS, body);
  const out: string[] = [head!, sep!];
  let last = '';
  for (const [k, r] of body.entries()) {
    if (last && r[0] !== last) out.push('');
    last = r[0]!;
    out.push(lines[k]!);
  }
  return out.join('\n');
}

/** Ferry's stages, in pipeline order (datapath/stages.ts). */
export const STAGE_NAMES = ['read', 'cut', 'hash', 'pack', 'send', 'verify', 'write'] as const;
export const STAGE_HEADERS = ['scenario', 'agent', 'CPU s', 'CPU s/GiB', ...STAGE_NAMES];

/**
 * Ferry's per-stage breakdown, one row per scenario and agent: the agent's CPU seconds (and per
 * GiB of changed bytes, for scenarios that change at least 64 MiB), then each stage's active
 * seconds and share of the replication's wall time. Stages overlap, so shares add up to more
 * than 100% when the pipeline works.
 */
export function stageCells(rows: ResultRow[], details: ReadonlyArray<Record<string, unknown>>): string[][] {
  const out: string[][] = [];
  for (const d of details) {
    if (d.tool !== 'ferry') continue;
    const row = find(rows, String(d.scenario), 'ferry');
    if (!row) continue;
    for (const side of ['source', 'destination']) {
      const cpu = Number(d[`${side}CpuSeconds`] ?? NaN);
      const gib = row.changedBytes / 1024 ** 3;
      const cells = [
        row.scenario,
        side,
        Number.isFinite(cpu) ? cpu.toFixed(2) : '–',
        Number.isFinite(cpu) && row.changedBytes >= 64 * 1024 * 1024 ? (cpu / gib).toFixed(2) : '–',
      ];
      for (const st of STAGE_NAMES) {
        const secs = d[`stage.${side}.${st}.seconds`];
        if (typeof secs !== 'number' || secs < 0.0005) cells.push('–');
        else cells.push(`${secs.toFixed(2)} (${Math.round((100 * secs) / row.wallSeconds)}%)`);
      }
      out.push(cells);
    }
  }
  return out;
}

export function formatStageTable(rows: ResultRow[], details: ReadonlyArray<Record<string, unknown>>): string {
  return textTableLines(STAGE_HEADERS, stageCells(rows, details)).join('\n');
}

/**
 * A Markdown table padded the way Prettier formats one (so `prettier --check` accepts the
 * generated docs): every column as wide as its widest cell, at least 3.
 */
export function padMarkdownTable(headers: string[], body: string[][], right: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(3, h.length, ...body.map((r) => (r[i] ?? '').length)));
  const cell = (c: string, i: number): string => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!));
  const rule = widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : `:${'-'.repeat(w - 1)}`));
  return [headers.map(cell), rule, ...body.map((r) => r.map(cell))]
    .map((r) => `| ${r.join(' | ')} |`)
    .join('\n');
}

export function markdownTable(rows: ResultRow[]): string {
  return padMarkdownTable(
    HEADERS,
    cells(rows),
    HEADERS.map((_, i) => i >= 2),
  );
}

export function formatChecks(checks: TargetCheck[], markdown = false): string {
  return checks
    .map((c) => {
      const mark =
        c.met === null
          ? markdown
            ? '➖'
            : '[ -- ]'
          : c.met
            ? markdown
              ? '✅'
              : '[ ok ]'
            : markdown
              ? '❌'
              : '[MISS]';
      return markdown ? `- ${mark} ${c.target} — ${c.detail}` : `${mark} ${c.target}: ${c.detail}`;
    })
    .join('\n');
}

export interface DocInputs {
  command: string;
  date: string;
  volumeBytes: number;
  datasetDescription: string;
  scenarioDescriptions: Array<{ name: string; description: string }>;
  machine: MachineInfo;
  limits: MachineLimits;
  rows: ResultRow[];
  checks: TargetCheck[];
  notes: string[];
  svgName?: string;
  /** Ferry's per-stage breakdown (stageCells), when measured. */
  stageCells?: string[][];
}

function machineTable(m: MachineInfo, l: MachineLimits): string {
  const rows: string[][] = [
    ['CPUs', `${m.cpus} × ${m.cpuModel}`],
    ['memory', formatBytes(m.memoryBytes)],
    ['kernel', m.kernel],
    ['node', m.node],
    ['rsync', m.rsync.replace(/\s+/g, ' ')],
    ...(m.ssh ? [['ssh (rsync-ssh)', m.ssh]] : []),
    ['restic', m.restic],
    ['Ferry build', m.ferryBuild ?? 'not run'],
    ...(m.ferryDataPort ? [["Ferry's data port", m.ferryDataPort]] : []),
    ['load average at start', m.loadAverageAtStart.map((x) => x.toFixed(2)).join(', ')],
    ['SHA-256 (node:crypto, one core)', `${l.sha256MBps.toFixed(0)} MB/s`],
    ...(l.blake3MBps ? [['BLAKE3 (@napi-rs/blake-hash, one core)', `${l.blake3MBps.toFixed(0)} MB/s`]] : []),
    ['sequential read, page cache', `${l.seqReadCachedMBps.toFixed(0)} MB/s`],
    [
      'sequential read, cold',
      l.seqReadColdMBps === null
        ? 'not measured (dropping caches not permitted)'
        : `${l.seqReadColdMBps.toFixed(0)} MB/s`,
    ],
  ];
  if (l.cutMBps)
    rows.push(["Ferry's chunker (FastCDC cut points, one core)", `${l.cutMBps.toFixed(0)} MB/s`]);
  if (l.pageCacheWriteMBps)
    rows.push(['1 MiB writes into the page cache', `${l.pageCacheWriteMBps.toFixed(0)} MB/s`]);
  if (l.tlsMBpsPerCpu)
    rows.push([
      'node:tls on loopback (both ends, 1 MiB writes)',
      `${l.tlsMBpsPerCpu.toFixed(0)} MB per CPU-second`,
    ]);
  return padMarkdownTable(['machine', 'value'], rows, [false, false]);
}

/** docs/benchmarks.md: the latest table, the targets, the machine and how it was measured. */
export function renderMarkdown(d: DocInputs): string {
  const m = d.machine;
  const l = d.limits;
  return `# Benchmarks

## Data path: Ferry vs rsync (daemon and over ssh) and restic

Latest run: ${d.date}, with

\`\`\`
${d.command}
\`\`\`

Volume: ${formatBytes(d.volumeBytes)} — ${d.datasetDescription}.

${markdownTable(d.rows)}
${d.svgName ? `\n![wall seconds and bytes sent per scenario](${d.svgName})\n` : ''}
"vs rsync" is the tool's wall time divided by rsync's in the same scenario.
${
  d.stageCells?.length
    ? `
### Where Ferry's time goes

Each stage's active seconds (wall time with at least one operation of the stage in flight, from
the agents' \`ferry_agent_stage_seconds_total\`) and its share of Ferry's wall time in that scenario;
stages run concurrently, so shares add up to more than 100% where they overlap. CPU s is the
agent process's user + system time; CPU s/GiB divides it by the changed bytes (scenarios changing
64 MiB or more). read, cut, hash: the source's snapshot (hash on the hash worker thread for large
files); pack: chunks appended to the chunk store; send: chunk uploads in flight; verify: received
chunks decoded and re-hashed; write: restore-point files written from chunks (at commit, and large new files while their chunks arrive).

${padMarkdownTable(
  STAGE_HEADERS,
  d.stageCells,
  STAGE_HEADERS.map((_, i) => i >= 2),
)}
`
    : ''
}
### Targets (issue 5)

${formatChecks(d.checks, true)}

### Scenarios

${d.scenarioDescriptions.map((s) => `- **${s.name}**: ${s.description}`).join('\n')}

### Machine

${machineTable(m, l)}

### How it is measured

${d.notes.map((n) => `- ${n}`).join('\n')}

Raw results: \`bench/results/datapath.json\` (one record per scenario and tool),
\`bench/results/datapath-machine.json\` (machine, limits, targets) and
\`bench/results/datapath-details.json\` (per-tool extras: wire bytes per direction, tools' own byte
counts, per-process CPU and memory).
`;
}

/** The sections other benchmarks keep in docs/benchmarks.md (every `## ` after the data path's). */
export function otherSections(md: string): string {
  const i = md.search(/^## (?!Data path)/m);
  return i < 0 ? '' : `\n${md.slice(i)}`;
}

/** A small grouped bar chart (log scale) of wall seconds and bytes sent, as standalone SVG. */
export function renderSvg(rows: ResultRow[]): string {
  const scs = scenarios(rows);
  const ts = tools(rows);
  const colors = ['#d1495b', '#00798c', '#edae49', '#30638e', '#66a182'];
  const panelW = 460;
  const panelH = 260;
  const pad = { l: 60, r: 10, t: 30, b: 60 };
  const panels: Array<{ title: string; value: (r: ResultRow) => number; fmt: (v: number) => string }> = [
    {
      title: 'wall seconds (log)',
      value: (r) => r.wallSeconds,
      fmt: (v) => (v >= 1 ? v.toFixed(0) : v.toFixed(2)),
    },
    { title: 'bytes sent (log)', value: (r) => r.bytesSent, fmt: (v) => formatBytes(v) },
  ];
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [];
  panels.forEach((p, pi) => {
    const x0 = pi * panelW;
    const vals = rows.map(p.value).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.max(Math.min(...vals, 1), 1e-3)));
    const hi = Math.ceil(Math.log10(Math.max(...vals, 10)));
    const plotW = panelW - pad.l - pad.r;
    const plotH = panelH - pad.t - pad.b;
    const y = (v: number): number =>
      pad.t + plotH - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotH;
    parts.push(
      `<text x="${x0 + panelW / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
    );
    for (let e = lo; e <= hi; e++) {
      const yy = y(10 ** e);
      parts.push(
        `<line x1="${x0 + pad.l}" x2="${x0 + panelW - pad.r}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
      );
      parts.push(
        `<text x="${x0 + pad.l - 4}" y="${yy + 4}" text-anchor="end" font-size="10">${esc(p.fmt(10 ** e))}</text>`,
      );
    }
    const groupW = plotW / scs.length;
    const barW = (groupW * 0.8) / ts.length;
    scs.forEach((s, si) => {
      const gx = x0 + pad.l + si * groupW + groupW * 0.1;
      ts.forEach((t, ti) => {
        const r = find(rows, s, t);
        if (!r) return;
        const v = p.value(r);
        const top = y(v);
        parts.push(
          `<rect x="${(gx + ti * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(pad.t + plotH - top).toFixed(1)}" fill="${colors[ti % colors.length]}"><title>${esc(`${s} / ${t}: ${p.fmt(v)}`)}</title></rect>`,
        );
      });
      parts.push(
        `<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${pad.t + plotH + 14}" text-anchor="middle" font-size="10">${esc(s)}</text>`,
      );
    });
  });
  ts.forEach((t, ti) => {
    const lx = 20 + ti * 90;
    parts.push(
      `<rect x="${lx}" y="${panelH - 18}" width="12" height="12" fill="${colors[ti % colors.length]}"/>`,
    );
    parts.push(`<text x="${lx + 16}" y="${panelH - 8}" font-size="12">${esc(t)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${panelW * panels.length}" height="${panelH}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
