// `npm run bench:datapath -- [--size-mib N]`: Ferry's data path side by side with rsync and
// restic on one generated volume, scenario by scenario. See docs/benchmarks.md for the latest
// results and bench/measure.ts for how every number is taken.
import { existsSync, utimesSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../localenv/paths.js';
import { startReaper } from '../localenv/reaper.js';
import { parseArgs, USAGE, type BenchArgs, type Tool } from './args.js';
import {
  appendToBig,
  generateDataset,
  MiB,
  overwritePages,
  planDataset,
  SMALL_MAX,
  SMALL_MIN,
  touchSmallFiles,
  type DatasetPlan,
  type Mutation,
} from './dataset.js';
import {
  flushDirty,
  machineInfo,
  measureCut,
  measureBlake3,
  measureLimits,
  measurePageCacheWrite,
  measureTls,
  warmTree,
} from './machine.js';
import { nowSeconds, round3, treeBytes } from './measure.js';
import type { BenchContext, ContentReads, Peer, PeerRun } from './peer.js';
import { ferryPeer, FERRY_NOTES } from './peers/ferry.js';
import { resticPeer } from './peers/restic.js';
import { rsyncPeer } from './peers/rsync.js';
import {
  checkTargets,
  formatBytes,
  formatChecks,
  formatStageTable,
  formatTable,
  otherSections,
  renderMarkdown,
  stageCells,
  renderSvg,
  medianRuns,
  type MachineLimits,
  type ResultRow,
} from './report.js';

interface Scenario {
  name: string;
  /** Applied to the source once, before every tool measures this state. */
  mutate(root: string, plan: DatasetPlan, round?: number): Mutation;
  /**
   * Unmeasured rounds first: the mutation (`round` 0, 1, ...) is applied and every tool syncs it,
   * then the measured round follows.
   */
  rounds?: number;
}

function scenarioList(plan: DatasetPlan): Scenario[] {
  return [
    {
      name: 'full',
      mutate: () => ({ changedBytes: plan.totalBytes, description: 'first replication of the whole volume' }),
    },
    { name: 'pages-1pct', mutate: (root, p) => overwritePages(root, p, 'pages-1pct') },
    { name: 'append-10MiB', mutate: (root, p) => appendToBig(root, p, 'append-10MiB') },
    { name: `touch-${plan.touchCount}`, mutate: (root, p) => touchSmallFiles(root, p, 'touch') },
    {
      name: 'unchanged',
      mutate: () => ({ changedBytes: 0, description: 'nothing changed since the previous run' }),
    },
    // A database between scheduled migrations: 1% of its pages rewritten each time. Two rounds
    // first so that Ferry's standby is in its steady state, holding `retain` (3) restore points
    // of which the oldest leaves at each commit (destination/standby.ts retire), as it does after
    // a schedule's first few runs; the scenarios above run on a standby still filling up.
    {
      name: 'pages-1pct-steady',
      rounds: 2,
      mutate: (root, p, round = 2) => overwritePages(root, p, `pages-1pct-steady-${round}`),
    },
  ];
}

const SETTLE_MS = 1000;
const started = nowSeconds();
let phase = 'starting';

function log(message: string): void {
  process.stderr.write(`[bench ${(nowSeconds() - started).toFixed(1).padStart(7)}s] ${message}\n`);
}

function setPhase(p: string): void {
  phase = p;
  log(p);
}

function makePeer(tool: Tool, ctx: BenchContext, args: BenchArgs): Peer {
  switch (tool) {
    case 'ferry':
      return ferryPeer(ctx, {
        warmUp: !args.coldAgents,
        snapshotFirst: args.snapshotFirst,
        migration: args.migration,
        stream: args.stream,
        dataPlaintext: args.dataPlaintext,
      });
    case 'rsync':
      return rsyncPeer(ctx);
    case 'rsync-ssh':
      return rsyncPeer(ctx, 'ssh');
    case 'restic':
      return resticPeer(ctx);
  }
}

interface Failure {
  tool: string;
  scenario: string;
  error: string;
}

/** What one run of the whole benchmark measured (main reports one, or the medians of several). */
interface RunResult {
  machine: ReturnType<typeof machineInfo>;
  plan: DatasetPlan;
  limits: MachineLimits;
  droppedCaches: boolean;
  rows: ResultRow[];
  details: Array<Record<string, unknown>>;
  scenarioDescriptions: Array<{ name: string; description: string }>;
  failures: Failure[];
  unchangedReads?: ContentReads;
}

/** One run of the whole benchmark in a fresh work dir: a new volume, fresh copies for every tool. */
async function measureRun(args: BenchArgs, run: number): Promise<RunResult> {
  const workDir = args.workDir
    ? (mkdirSync(args.workDir, { recursive: true }), mkdtempSync(path.join(args.workDir, 'ferry-bench-')))
    : mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
  const pidFile = path.join(workDir, 'pids');
  writeFileSync(pidFile, '');
  startReaper(process.pid, pidFile);
  const tracked = new Set<number>();
  // The reaper reads this file: it only ever lists processes that are still ours.
  const writePids = (): void => {
    try {
      writeFileSync(pidFile, [...tracked].map((p) => `${p}\n`).join(''));
    } catch {
      // work dir already gone
    }
  };
  const ctx: BenchContext = {
    workDir,
    sourceDir: path.join(workDir, 'source'),
    log,
    trackPid(pid) {
      tracked.add(pid);
      writePids();
    },
    untrackPid(pid) {
      tracked.delete(pid);
      writePids();
    },
  };
  const peers = args.tools.map((t) => makePeer(t, ctx, args));
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    for (const p of peers) await p.stop().catch((e: unknown) => log(`stopping ${p.name}: ${String(e)}`));
    for (const pid of tracked) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone, or not a group leader
        }
      }
    }
    if (args.keep) log(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig} during "${phase}": stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const heartbeat = setInterval(() => log(`… ${phase}`), 15_000);
  heartbeat.unref();

  try {
    if (args.runs > 1) setPhase(`run ${run + 1} of ${args.runs}`);
    log(`work dir ${workDir}`);
    const machine = machineInfo();
    const plan = planDataset(args.sizeMiB * MiB, args.seed);
    const failures: Failure[] = [];
    const active = new Set<Peer>();
    for (const p of peers) {
      setPhase(`setup ${p.name}`);
      try {
        await p.setup();
        active.add(p);
      } catch (e) {
        failures.push({ tool: p.name, scenario: 'setup', error: errorText(e) });
        log(`${p.name} setup failed, measuring the others: ${errorText(e)}`);
        await p.stop().catch(() => undefined);
      }
    }
    setPhase(`generating ${formatBytes(plan.totalBytes)} dataset in ${ctx.sourceDir}`);
    const g0 = nowSeconds();
    generateDataset(ctx.sourceDir, plan, (b) => log(`  generated ${formatBytes(b)}`));
    log(`generated in ${(nowSeconds() - g0).toFixed(1)} s`);

    setPhase('measuring machine limits (SHA-256, BLAKE3, sequential read, chunking, page-cache writes, TLS)');
    const lim = measureLimits(path.join(ctx.sourceDir, plan.big.rel));
    const limits: MachineLimits = {
      sha256MBps: lim.sha256MBps,
      blake3MBps: measureBlake3(),
      seqReadCachedMBps: lim.seqReadCachedMBps,
      seqReadColdMBps: lim.seqReadColdMBps,
      cutMBps: measureCut(),
      pageCacheWriteMBps: measurePageCacheWrite(ctx.workDir),
      tlsMBpsPerCpu: await measureTls(),
    };
    log(
      `SHA-256 ${limits.sha256MBps.toFixed(0)} MB/s; BLAKE3 ${limits.blake3MBps ? `${limits.blake3MBps.toFixed(0)} MB/s` : 'n/a'}; read cached ${limits.seqReadCachedMBps.toFixed(0)} MB/s, cold ${limits.seqReadColdMBps === null ? 'n/a (drop_caches not permitted)' : `${limits.seqReadColdMBps.toFixed(0)} MB/s`}; ` +
        `chunking ${limits.cutMBps!.toFixed(0)} MB/s; page-cache writes ${limits.pageCacheWriteMBps!.toFixed(0)} MB/s; TLS ${limits.tlsMBpsPerCpu!.toFixed(0)} MB per CPU-second`,
    );
    setPhase('warming the page cache with the whole source');
    warmTree(ctx.sourceDir);

    const rows: ResultRow[] = [];
    const details: Array<Record<string, unknown>> = [];
    const scenarioDescriptions: Array<{ name: string; description: string }> = [];
    const list = scenarioList(plan).slice(0, args.scenarios);
    for (const [i, s] of list.entries()) {
      for (let round = 0; round < (s.rounds ?? 0); round++) {
        setPhase(`scenario ${s.name}: unmeasured round ${round + 1} of ${s.rounds}`);
        const m = s.mutate(ctx.sourceDir, plan, round);
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        for (const p of peers) {
          if (!active.has(p)) continue;
          await p
            .run({
              name: `${s.name}-round-${round + 1}`,
              first: false,
              changedBytes: m.changedBytes,
              volumeBytes: treeBytes(ctx.sourceDir),
            })
            .catch((e: unknown) => {
              failures.push({ tool: p.name, scenario: s.name, error: errorText(e) });
              log(
                `${p.name} failed in ${s.name}'s round ${round + 1}; it is skipped from now on: ${errorText(e)}`,
              );
              active.delete(p);
            });
        }
      }
      setPhase(`scenario ${s.name}: applying mutation`);
      const mutation = s.mutate(ctx.sourceDir, plan);
      const volumeBytes = treeBytes(ctx.sourceDir);
      // Let the writes settle for a second before anyone looks: replications run on schedules, not
      // within milliseconds of a write (Ferry re-reads files modified within 100 ms of its walk).
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      scenarioDescriptions.push({
        name: s.name,
        description: `${mutation.description}${s.rounds ? `, after ${s.rounds} unmeasured rounds of the same kind of change, each synced by every tool` : ''}; changed bytes ${formatBytes(mutation.changedBytes)}`,
      });
      for (const p of peers) {
        if (!active.has(p)) continue;
        // Every tool starts from the same warm source: read the whole tree right before each run.
        // Why: a kernel that pages out idle memory (DAMON) would otherwise leave the first tool of
        // each scenario reading from the device and every later one from the cache it warmed.
        setPhase(`scenario ${s.name}: warming the source for ${p.name}`);
        warmTree(ctx.sourceDir);
        // Nor does a tool pay for the write-back of the copies the tools before it wrote: with
        // four tools, the previous ones' gigabytes were still being written back when the next
        // started (Ferry's append-10MiB commit 0.1 s alone, 0.4-1.6 s after the other three).
        flushDirty(ctx.workDir);
        setPhase(`scenario ${s.name}: ${p.name}`);
        let r: PeerRun;
        try {
          r = await p.run({ name: s.name, first: i === 0, changedBytes: mutation.changedBytes, volumeBytes });
        } catch (e) {
          failures.push({ tool: p.name, scenario: s.name, error: errorText(e) });
          log(`${p.name} failed in ${s.name}; it is skipped from now on: ${errorText(e)}`);
          active.delete(p);
          continue;
        }
        const row: ResultRow = {
          scenario: s.name,
          tool: p.name,
          wallSeconds: round3(r.wallSeconds),
          bytesSent: r.bytesSent,
          changedBytes: mutation.changedBytes,
          cpuSeconds: round3(r.cpuSeconds),
          peakRssBytes: r.peakRssBytes,
        };
        rows.push(row);
        details.push({ scenario: s.name, tool: p.name, volumeBytes, ...r.details });
        log(
          `  ${p.name}: ${row.wallSeconds.toFixed(2)} s wall, ${formatBytes(row.bytesSent)} sent, ${row.cpuSeconds.toFixed(2)} CPU s, ${formatBytes(row.peakRssBytes)} peak`,
        );
      }
    }

    let unchangedReads: ContentReads | undefined;
    const ferry = peers.find((p) => p.name === 'ferry');
    const ferryBuild = ferry?.build?.();
    if (ferryBuild) machine.ferryBuild = ferryBuild;
    if (ferry) machine.ferryDataPort = args.dataPlaintext ? 'plain HTTP (--data-plaintext)' : 'TLS';
    if (run === 0 && args.verifyReads && ferry && active.has(ferry) && ferry.traceUnchangedReads) {
      setPhase('verifying: unchanged replication again, under strace (not timed)');
      try {
        const r = await ferry.traceUnchangedReads(() => {
          const f = plan.small[0]!;
          const p = path.join(ctx.sourceDir, f.rel);
          const t = Date.now() / 1000 + 5;
          utimesSync(p, t, t);
          return f.size;
        });
        log(`  Ferry read ${formatBytes(r.bytes)} from ${r.files} volume files`);
        if (r.control) {
          log(
            `  control: after touching one ${formatBytes(r.control.fileSize)} file, the traced replication read ${formatBytes(r.control.bytes)}`,
          );
          if (r.control.bytes < r.control.fileSize) {
            throw new Error('strace saw no full read of a touched file: the read check cannot be trusted');
          }
        }
        unchangedReads = r;
      } catch (e) {
        failures.push({ tool: 'ferry', scenario: 'unchanged (traced)', error: errorText(e) });
        log(`read tracing failed: ${errorText(e)}`);
      }
    }

    return {
      machine,
      plan,
      limits,
      droppedCaches: lim.droppedCaches,
      rows,
      details,
      scenarioDescriptions,
      failures,
      ...(unchangedReads ? { unchangedReads } : {}),
    };
  } finally {
    clearInterval(heartbeat);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

async function main(args: BenchArgs): Promise<number> {
  const measured: RunResult[] = [];
  for (let run = 0; run < args.runs; run++) measured.push(await measureRun(args, run));
  const first = measured[0] as RunResult;
  const { machine, plan, limits, scenarioDescriptions, unchangedReads } = first;
  const picked = medianRuns(measured.map((r) => r.rows));
  const rows = picked.map((p) => p.row);
  const details = picked.flatMap(({ row, run }) =>
    (measured[run] as RunResult).details.filter((d) => d.scenario === row.scenario && d.tool === row.tool),
  );
  const failures = measured.flatMap((r, run) =>
    r.failures.map((f) => (args.runs > 1 ? { ...f, scenario: `${f.scenario} (run ${run + 1})` } : f)),
  );
  setPhase('reporting');
  const volumeBytes = plan.totalBytes;
  const checks = checkTargets(rows, {
    volumeBytes,
    limits,
    ...(unchangedReads ? { unchangedContentReads: unchangedReads } : {}),
  });
  const table = formatTable(rows);
  process.stdout.write(
    `\nFerry data path vs ${args.tools.filter((t) => t !== 'ferry').join(', ') || 'nothing'} — ${formatBytes(volumeBytes)} volume, ${plan.small.length} small files + ${plan.big.rel}\n\n`,
  );
  process.stdout.write(`${table}\n\n`);
  if (rows.some((r) => r.tool === 'ferry')) {
    process.stdout.write(
      `Ferry by stage (active seconds and share of Ferry's wall time; stages overlap):\n\n${formatStageTable(rows, details)}\n\n`,
    );
  }
  process.stdout.write(
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${formatBytes(machine.memoryBytes)}; SHA-256 ${limits.sha256MBps.toFixed(0)} MB/s (one core); sequential read ${limits.seqReadCachedMBps.toFixed(0)} MB/s cached, ${limits.seqReadColdMBps === null ? 'cold n/a' : `${limits.seqReadColdMBps.toFixed(0)} MB/s cold`}\n\n`,
  );
  process.stdout.write(`Targets:\n${formatChecks(checks)}\n`);
  if (failures.length) {
    process.stdout.write(
      `\nFailures:\n${failures.map((f) => `- ${f.tool} / ${f.scenario}: ${f.error}`).join('\n')}\n`,
    );
  }

  if (args.save) {
    const root = repoRoot();
    const results = path.join(root, 'bench', 'results');
    mkdirSync(results, { recursive: true });
    writeFileSync(path.join(results, 'datapath.json'), `${JSON.stringify(rows, null, 2)}\n`);
    const argv = process.argv.slice(2);
    const command = `npm run bench:datapath${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
    const date = new Date().toISOString();
    writeFileSync(
      path.join(results, 'datapath-machine.json'),
      `${JSON.stringify({ date, command, sizeMiB: args.sizeMiB, seed: args.seed, volumeBytes, smallFiles: plan.small.length, bigFileBytes: plan.big.size, touchCount: plan.touchCount, machine, limits, droppedCaches: first.droppedCaches, targets: checks, unchangedReads: unchangedReads ?? null, failures }, null, 2)}\n`,
    );
    writeFileSync(path.join(results, 'datapath-details.json'), `${JSON.stringify(details, null, 2)}\n`);
    const docs = path.join(root, 'docs');
    mkdirSync(docs, { recursive: true });
    const svgName = 'benchmarks-datapath.svg';
    writeFileSync(path.join(docs, svgName), renderSvg(rows));
    const mdPath = path.join(docs, 'benchmarks.md');
    const others = otherSections(existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : '');
    writeFileSync(
      mdPath,
      renderMarkdown({
        command,
        date,
        volumeBytes,
        datasetDescription: `${plan.small.length} small files of ${SMALL_MIN / 1024}–${SMALL_MAX / 1024} KiB (uniform sizes, in ${new Set(plan.small.map((f) => path.dirname(f.rel))).size} folders two levels deep) plus one ${formatBytes(plan.big.size)} database-like file; all content is incompressible (AES-CTR keystream from seed "${plan.seed}")`,
        scenarioDescriptions,
        machine,
        limits,
        rows,
        checks,
        stageCells: stageCells(rows, details),
        notes: [
          ...(args.runs > 1
            ? [
                `Each row is the median of ${args.runs} runs of the whole benchmark (each on a freshly generated volume, with fresh copies for every tool): that run's figures, with the fastest and slowest wall time in parentheses. The stage table is that same run's.`,
              ]
            : []),
          ...COMMON_NOTES,
          ...FERRY_NOTES,
          ...(args.dataPlaintext
            ? [
                "This run's Ferry destination served its data port over plain HTTP (`ferry agent --data-plaintext`, `--data-plaintext` here), as rsync's daemon does: chunk uploads and have-queries crossed unencrypted; the control port (manifests, commits) stayed on TLS.",
              ]
            : []),
          FINAL_NOTE,
          ...(failures.length
            ? [
                `Failures in this run: ${failures.map((f) => `${f.tool} / ${f.scenario}: ${f.error}`).join('; ')}`,
              ]
            : []),
        ],
        svgName,
      }) + others,
    );
    log(
      `wrote bench/results/datapath.json, datapath-machine.json, datapath-details.json, docs/benchmarks.md, docs/${svgName}`,
    );
  }
  return failures.length ? 1 : 0;
}

const COMMON_NOTES = [
  'One run measures every tool on the same source: each scenario mutates the source once, then Ferry, rsync, rsync over ssh and restic bring their copies up to date in turn, so every tool starts each scenario from its own copy of the previous state.',
  "The source is read from a warm page cache by every tool: the benchmark reads the whole tree right before each tool's measured run, and then writes back the filesystem's dirty pages (`sync -f`, since the nineteenth session), so no tool's run meets the write-back of the copies the tools before it made. Destinations and repositories are on the same disk and are not warmed. On a VM whose kernel reclaims idle memory on its own (DAMON `pageout`, which the VM of the latest runs has: pages idle for about a minute are paged out), a destination's files untouched for a minute are read from the device, for every tool alike; runs before 2026-12-03's eighth session warmed the source once, so there the first tool of a scenario (Ferry) could find it paged out and leave it cached for the next.",
  "Wall seconds: the benchmark's monotonic clock around the operation (process start to exit for rsync and restic; first API call to committed replication for Ferry, snapshot included).",
  "CPU seconds = user + system. rsync client and restic run under GNU time (wait4 rusage, reaped children included); the rsync daemon (or, for rsync-ssh, sshd) is started fresh for each scenario under GNU time and stopped after the client exits, so its figure includes the receiver/generator processes it forked; rsync-ssh's client figure includes its ssh child. Ferry's agents are long-running: CPU is the delta of utime+stime+cutime+cstime in /proc/<pid>/stat of both agents (and any children) across the scenario.",
  "Peak RSS: kernel high-water mark of the resident set; for a tool made of two sides (rsync client + daemon, Ferry source + destination agent) the larger of the two, as they would run on different machines. Ferry's agents run across the scenarios (VmHWM is reset right before each measured replication, so it covers that replication and the agent's resident memory at its start).",
  "Bytes sent: payload bytes through a counting TCP relay on loopback that the benchmark puts between the two sides (rsync client → rsync daemon or sshd; Ferry source agent → destination agent), both directions added: protocol framing, checksums sent back and TLS records included, TCP/IP headers not. restic writes to a local repository, so its figure is the repository's growth in bytes (what a remote repository would have to receive); its own data_added is in the details file.",
  'rsync runs as `rsync -a --no-whole-file --delete --stats SRC/ rsync://127.0.0.1:PORT/vol/` against `rsync --daemon` (no compression, no encryption). rsync-ssh runs the same command with `-e "ssh -p PORT"` to `USER@127.0.0.1:DIR/` through a fresh `sshd` with the default cipher of OpenSSH (chacha20-poly1305 for OpenSSH 9.2), so it encrypts as Ferry\'s stream does (TLS, AES-256-GCM); "vs rsync" and the targets stay against the daemon. restic runs `restic backup --json` into a local repository (format v2, default compression; the data is incompressible) with a cache folder in the work dir.',
  'changedBytes is computed by the mutation itself: pages overwritten × 4096, bytes appended, 0 for touched files and for an unchanged volume, the whole volume for the first replication.',
  "Targets: incremental bytes sent ≤ 1.1 × changed bytes + 1% of the volume; incremental wall time ≤ rsync's; full replication throughput (volume bytes / wall seconds) ≥ 50% of single-core SHA-256 throughput; an unchanged volume reads no file contents (checked by re-running the unchanged replication with strace attached to the source agent and adding up read syscalls on files of the volume).",
  'Each mutation is followed by one second of quiet before the first tool starts: replications run on schedules, not within milliseconds of a write (Ferry deliberately re-reads files modified within 100 ms of its walk).',
];

const FINAL_NOTE =
  'These are benchmarks, not timed tests: the machine may be shared (see the load average), and nothing fails on a missed target.';

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// A closed pipe on stdout (`… | head`) must not skip the clean-up of processes and the work dir.
process.stdout.on('error', () => undefined);

let args: BenchArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${errorText(e)}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
main(args).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(
      `bench:datapath failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
