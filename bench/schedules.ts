// `npm run bench:schedules [-- --sizes 100,1000 --rounds 3 --interval-minutes 1]`: N interval
// MigrationSchedules on ONE `ferry worker` against the Temporal dev server. Each schedule migrates
// its own tiny namespace (one ConfigMap, no volumes) to the standby. For each size: a fresh
// worker, N schedule workflows started CR-less through @temporalio/client, `rounds` triggers
// after each schedule's first, then
//   lateness   child Migration workflow's startTime (visibility) − the trigger's scheduled time
//              (its name's UTC second + the grid's milliseconds from the status query's
//              lastTrigger): p50, p99, max over rounds 1..rounds of every schedule;
//   skipped    measured triggers the schedule passed without a migration, and its status counts;
//   memory     the worker's VmRSS (/proc, every 5 s) and prom-client's heap and RSS (/metrics);
//   CPU        the worker's and the Temporal dev server's, as cores used over the run.
// Writes a table to stdout and bench/results/schedules.json (or --out).
import { Client, Connection, type WorkflowExecutionInfo } from '@temporalio/client';
import { existsSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KINDS as KUBE_KINDS, type KubeClient } from '../kube/client.js';
import { storkKind } from '../activities/kube/stork.js';
import { GROUP_VERSION } from '../api/kinds/meta.js';
import { startDrPair, type DrPair } from '../localenv/dr-pair.js';
import { repoRoot } from '../localenv/paths.js';
import type { WorkerHandle } from '../localenv/worker.js';
import { migrationScheduleWorkflowId, type ScheduleStatusView } from '../workflows/migration-schedule.js';
import { machineInfo } from './machine.js';
import { inPool, rssBytes, runBench, sampleTree } from './measure.js';
import {
  SCHEDULES_USAGE,
  metricValue,
  parseScheduleBenchArgs,
  scheduleOutcome,
  summarize,
  type ChildRun,
  type ScheduleBenchArgs,
  type Summary,
} from './schedule-stats.js';

const SITE = 'source';
const SAMPLE_MS = 5000;
const QUERY_POOL = 64;
const QUERY_MS = 10_000;
const MiB = 1024 * 1024;

interface MemorySample {
  /** Seconds since the first schedule was started. */
  t: number;
  rssBytes: number;
  heapUsedBytes?: number;
  promRssBytes?: number;
  loadAverage1m: number;
}

export interface SizeRow {
  label: string;
  schedules: number;
  /** Schedules that migrate; the others start suspended (they wake and pass each trigger). */
  active: number;
  /** Suspended schedules whose latest trigger was not passed within interval + 20 s (or no status). */
  suspendedBehind: number;
  intervalMinutes: number;
  /** Migrations a minute the schedules ask for. */
  offeredPerMinute: number;
  rounds: number;
  workerArgs: string[];
  /** Seconds to start all N schedule workflows. */
  startSeconds: number;
  /** Triggers measured: active schedules × rounds. */
  triggers: number;
  fired: number;
  skipped: number;
  notReached: number;
  /** The oldest not-reached trigger's age at collection, s (a lower bound of its lateness). */
  notReachedAgeSeconds?: number;
  latenessSeconds: Summary;
  /** Each schedule's first trigger (fires at once, while the others are being started). */
  firstTriggerLatenessSeconds: Summary;
  /** closeTime − startTime of the finished measured migrations. */
  migrationSeconds: Summary;
  migrationsFailed: number;
  /** Migrations of the size's schedules that finished during the run, per minute. */
  migrationsPerMinute: number;
  migrationsRunningAtEnd: number;
  /** The schedules' own status counts, summed (whole run, first trigger included). */
  counts: { triggered: number; skipped: number; succeeded: number; failed: number; runs: number };
  schedulesWithoutStatus: number;
  workerRss: { idleMiB: number; peakMiB: number; endMiB: number };
  workerHeapUsedPeakMiB?: number;
  /** CPU seconds per wall second over the run (1.0 = one core busy). */
  workerCores: number;
  /** Worker CPU seconds over the run per finished migration (schedules' own work included). */
  workerCpuSecondsPerMigration: number | undefined;
  temporalCores: number;
  /** Both clusters' etcd and kube-apiserver. */
  clusterCores: number;
  loadAverage: { start: number[]; end: number[] };
  seconds: number;
  samples: MemorySample[];
}

const namespaceOf = (i: number) => `sched-${String(i + 1).padStart(4, '0')}`;

/** One namespace per schedule: a ConfigMap to migrate and the ClusterPair `remote`. */
async function prepareNamespaces(pair: DrPair, kube: KubeClient, n: number): Promise<void> {
  const configMap = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
  const clusterPair = storkKind('ClusterPair');
  await inPool(
    Array.from({ length: n }, (_, i) => namespaceOf(i)),
    async (ns) => {
      await kube.apply(KUBE_KINDS.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      await kube.apply(configMap, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings', namespace: ns },
        data: { mode: 'bench', namespace: ns },
      });
      await kube.apply(clusterPair, pair.clusterPair(SITE, 'remote', ns));
    },
  );
}

const sumCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + sampleTree(pid).cpuSeconds, 0);

async function sample(worker: WorkerHandle, t0: number): Promise<MemorySample> {
  const text = await fetch(`http://${worker.http}/metrics`, { signal: AbortSignal.timeout(4000) })
    .then((r) => r.text())
    .catch(() => '');
  const heap = metricValue(text, 'ferry_worker_nodejs_heap_size_used_bytes');
  const promRss = metricValue(text, 'ferry_worker_process_resident_memory_bytes');
  return {
    t: Math.round((Date.now() - t0) / 100) / 10,
    rssBytes: rssBytes(worker.pid),
    ...(heap !== undefined ? { heapUsedBytes: heap } : {}),
    ...(promRss !== undefined ? { promRssBytes: promRss } : {}),
    loadAverage1m: round2(os.loadavg()[0]!),
  };
}

async function listChildren(
  temporal: Client,
  since: Date,
  scheduleName: string,
): Promise<Map<string, ChildRun[]>> {
  const out = new Map<string, ChildRun[]>();
  const query = `WorkflowType = 'migrationWorkflow' AND StartTime >= '${since.toISOString()}'`;
  const marker = `/${scheduleName}-interval-`;
  for await (const wf of temporal.workflow.list({ query }) as AsyncIterable<WorkflowExecutionInfo>) {
    if (!wf.workflowId.includes(marker)) continue;
    const [, ns, name] = wf.workflowId.split('/');
    const list = out.get(ns!) ?? [];
    list.push({
      name: name!,
      startTime: wf.startTime.getTime(),
      ...(wf.closeTime ? { closeTime: wf.closeTime.getTime() } : {}),
      ...(wf.status.name !== 'COMPLETED' && wf.status.name !== 'RUNNING' ? { failed: true } : {}),
    });
    out.set(ns!, list);
  }
  return out;
}

async function runSize(
  pair: DrPair,
  temporal: Client,
  args: ScheduleBenchArgs,
  n: number,
  policyName: string,
  say: (l: string) => void,
): Promise<SizeRow> {
  const loadStart = os.loadavg();
  const worker = await pair.startWorker(SITE, { args: args.workerArgs });
  const taskQueue = worker.taskQueue;
  const scheduleName = `b${Date.now().toString(36)}`;
  const namespaces = Array.from({ length: n }, (_, i) => namespaceOf(i));
  const active = Math.min(n, args.active ?? n);
  const activeSet = new Set(namespaces.slice(0, active));
  const isActive = (ns: string) => activeSet.has(ns);
  const intervalMs = args.intervalMinutes * 60_000;
  await new Promise((r) => setTimeout(r, 3000));
  const idle = rssBytes(worker.pid);
  const pids = {
    worker: [worker.pid],
    temporal: [pair.env.temporal.process.pid],
    clusters: pair.env.clusters.flatMap((c) => [c.etcd.pid, c.apiserver.pid]),
  };
  const cpu = () => ({
    worker: sumCpu(pids.worker),
    temporal: sumCpu(pids.temporal),
    clusters: sumCpu(pids.clusters),
  });
  const cpu0 = cpu();
  const since = new Date(Date.now() - 1000);
  const t0 = Date.now();
  const samples: MemorySample[] = [];
  const sampler = setInterval(() => void sample(worker, t0).then((s) => samples.push(s)), SAMPLE_MS);
  const spec = {
    template: {
      spec: {
        clusterPair: 'remote',
        includeResources: true,
        includeVolumes: false,
        startApplications: false,
        namespaces: [] as string[],
      },
    },
    schedulePolicyName: policyName,
  };
  try {
    say(`${n} schedules "${scheduleName}" (every ${args.intervalMinutes} min, ${active} active): starting`);
    await inPool(namespaces, async (ns) => {
      await temporal.workflow.start('migrationScheduleWorkflow', {
        taskQueue,
        workflowId: migrationScheduleWorkflowId(ns, scheduleName),
        args: [
          {
            namespace: ns,
            name: scheduleName,
            spec: {
              ...spec,
              template: { spec: { ...spec.template.spec, namespaces: [ns] } },
              ...(isActive(ns) ? {} : { suspend: true }),
            },
          },
        ],
      });
    });
    const startSeconds = (Date.now() - t0) / 1000;
    say(`started ${n} in ${startSeconds.toFixed(1)} s; measuring ${args.rounds} rounds`);
    // Round r of the last schedule started is due about r intervals after it started.
    const endAt = Date.now() + args.rounds * intervalMs + 20_000;
    while (Date.now() < endAt) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, endAt - Date.now())));
      const last = samples[samples.length - 1];
      if (last)
        say(
          `t=${last.t.toFixed(0)} s: worker RSS ${(last.rssBytes / MiB).toFixed(0)} MiB, heap ${((last.heapUsedBytes ?? 0) / MiB).toFixed(0)} MiB, load ${last.loadAverage1m}`,
        );
    }
    const collectedAt = Date.now();
    const wall = (collectedAt - t0) / 1000;
    const cpu1 = cpu();
    const cores = {
      worker: (cpu1.worker - cpu0.worker) / wall,
      temporal: (cpu1.temporal - cpu0.temporal) / wall,
      clusters: (cpu1.clusters - cpu0.clusters) / wall,
    };
    clearInterval(sampler);
    samples.push(await sample(worker, t0));

    // Every schedule's status (counts, lastTrigger), then every child it started.
    // A query needs the worker: on a saturated one it may wait behind every queued task, so
    // each gets QUERY_MS and a schedule without an answer is counted, not waited for.
    const statuses = new Map<string, ScheduleStatusView>();
    await inPool(
      namespaces,
      async (ns) => {
        const view = await temporal
          .withDeadline(Date.now() + QUERY_MS, () =>
            temporal.workflow
              .getHandle(migrationScheduleWorkflowId(ns, scheduleName))
              .query<ScheduleStatusView>('status'),
          )
          .catch(() => undefined);
        if (view) statuses.set(ns, view);
      },
      QUERY_POOL,
    );
    const children = await listChildren(temporal, since, scheduleName);
    const lateness: number[] = [];
    const first: number[] = [];
    const durations: number[] = [];
    let skipped = 0;
    let notReached = 0;
    let notReachedAge: number | undefined;
    let failed = 0;
    let running = 0;
    const counts = { triggered: 0, skipped: 0, succeeded: 0, failed: 0, runs: 0 };
    let suspendedBehind = 0;
    for (const ns of namespaces) {
      const status = statuses.get(ns);
      if (!isActive(ns)) {
        // A suspended schedule passes each trigger without a migration: it is behind when the
        // latest trigger it passed is more than one interval (and the wake-up slack) old.
        const last = status?.lastTrigger.interval;
        if (last === undefined || last < collectedAt - intervalMs - 20_000) suspendedBehind += 1;
        continue;
      }
      const runs = children.get(ns) ?? [];
      const o = scheduleOutcome({
        children: runs,
        intervalMs,
        rounds: args.rounds,
        ...(status?.lastTrigger.interval !== undefined ? { lastTriggerMs: status.lastTrigger.interval } : {}),
        collectedAt,
      });
      lateness.push(...o.lateness);
      if (o.first !== undefined) first.push(o.first);
      skipped += o.skipped;
      notReached += o.notReached;
      if (o.notReachedAgeMs !== undefined) notReachedAge = Math.max(notReachedAge ?? 0, o.notReachedAgeMs);
      for (const c of runs) {
        if (c.closeTime === undefined) running += 1;
        else durations.push(c.closeTime - c.startTime);
        if (c.failed) failed += 1;
      }
      if (status) {
        for (const k of ['triggered', 'skipped', 'succeeded', 'failed'] as const)
          counts[k] += status.counts[k];
        counts.runs = Math.max(counts.runs, status.runs);
      }
    }
    const rss = samples.map((s) => s.rssBytes).filter((b) => b > 0);
    const heaps = samples.map((s) => s.heapUsedBytes ?? 0);
    const seconds = (v: number[]) => summarize(v.map((ms) => ms / 1000));
    const row: SizeRow = {
      label: args.label ?? `${n} schedules${active < n ? `, ${active} active` : ''}`,
      schedules: n,
      active,
      suspendedBehind,
      intervalMinutes: args.intervalMinutes,
      offeredPerMinute: round2(active / args.intervalMinutes),
      rounds: args.rounds,
      workerArgs: args.workerArgs,
      startSeconds: round2(startSeconds),
      triggers: active * args.rounds,
      fired: lateness.length,
      skipped,
      notReached,
      ...(notReachedAge !== undefined ? { notReachedAgeSeconds: round2(notReachedAge / 1000) } : {}),
      latenessSeconds: roundSummary(seconds(lateness)),
      firstTriggerLatenessSeconds: roundSummary(seconds(first)),
      migrationSeconds: roundSummary(seconds(durations)),
      migrationsFailed: failed,
      migrationsPerMinute: round2((durations.length / wall) * 60),
      migrationsRunningAtEnd: running,
      counts,
      schedulesWithoutStatus: n - statuses.size,
      workerRss: {
        idleMiB: round2(idle / MiB),
        peakMiB: round2(Math.max(idle, ...rss) / MiB),
        endMiB: round2((rss[rss.length - 1] ?? 0) / MiB),
      },
      ...(heaps.some((h) => h > 0) ? { workerHeapUsedPeakMiB: round2(Math.max(...heaps) / MiB) } : {}),
      workerCores: round2(cores.worker),
      workerCpuSecondsPerMigration:
        durations.length > 0 ? round2((cores.worker * wall) / durations.length) : undefined,
      temporalCores: round2(cores.temporal),
      clusterCores: round2(cores.clusters),
      loadAverage: { start: loadStart.map(round2), end: os.loadavg().map(round2) },
      seconds: round2(wall),
      samples,
    };
    say(JSON.stringify({ ...row, samples: samples.length }));
    return row;
  } finally {
    clearInterval(sampler);
    if (!args.keep) {
      await stopAll(temporal, namespaces, scheduleName, since, say);
      await worker.stop().catch(() => undefined);
    }
  }
}

/** Terminates the size's schedules and any migration still running, so the next size starts clean. */
async function stopAll(
  temporal: Client,
  namespaces: string[],
  scheduleName: string,
  since: Date,
  say: (l: string) => void,
): Promise<void> {
  const reason = 'bench:schedules: size done';
  await inPool(namespaces, (ns) =>
    temporal.workflow
      .getHandle(migrationScheduleWorkflowId(ns, scheduleName))
      .terminate(reason)
      .then(() => undefined)
      .catch(() => undefined),
  );
  const running: string[] = [];
  const query = `WorkflowType = 'migrationWorkflow' AND ExecutionStatus = 'Running' AND StartTime >= '${since.toISOString()}'`;
  for await (const wf of temporal.workflow.list({ query })) running.push(wf.workflowId);
  await inPool(running, (id) =>
    temporal.workflow
      .getHandle(id)
      .terminate(reason)
      .then(() => undefined)
      .catch(() => undefined),
  );
  say(`terminated ${namespaces.length} schedules and ${running.length} running migrations`);
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function roundSummary(s: Summary): Summary {
  return {
    count: s.count,
    ...(s.p50 !== undefined ? { p50: round2(s.p50) } : {}),
    ...(s.p99 !== undefined ? { p99: round2(s.p99) } : {}),
    ...(s.max !== undefined ? { max: round2(s.max) } : {}),
  };
}

const f = (x: number | undefined, digits = 2) => (x === undefined ? '–' : x.toFixed(digits));

export function table(rows: SizeRow[]): string {
  const lines = [
    '| setup | schedules | every | offered /min | triggers | fired | skipped | not reached | lateness p50 s | p99 s | max s | migration p50 s | p99 s | migrations /min | CPU cores: worker, Temporal, clusters | worker RSS idle → peak MiB | heap peak MiB | load 1m start → end |',
    '| :---- | --------: | ----: | -----------: | -------: | ----: | ------: | ----------: | -------------: | ----: | ----: | --------------: | ----: | --------------: | ------------------------------------: | -------------------------: | ------------: | ------------------: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.schedules}${r.active < r.schedules ? ` (${r.active} active)` : ''} | ${r.intervalMinutes} min | ${r.offeredPerMinute} | ${r.triggers} | ${r.fired} | ${r.skipped} | ${r.notReached} | ${f(r.latenessSeconds.p50)} | ${f(r.latenessSeconds.p99)} | ${f(r.latenessSeconds.max)} | ${f(r.migrationSeconds.p50, 1)} | ${f(r.migrationSeconds.p99, 1)} | ${r.migrationsPerMinute.toFixed(1)} | ${r.workerCores.toFixed(2)}, ${r.temporalCores.toFixed(2)}, ${r.clusterCores.toFixed(2)} | ${r.workerRss.idleMiB.toFixed(0)} → ${r.workerRss.peakMiB.toFixed(0)} | ${f(r.workerHeapUsedPeakMiB, 0)} | ${r.loadAverage.start[0]!.toFixed(1)} → ${r.loadAverage.end[0]!.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  let args: ScheduleBenchArgs;
  try {
    args = parseScheduleBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:schedules: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  if (args.help) {
    process.stdout.write(SCHEDULES_USAGE);
    return;
  }
  const dir = path.join(repoRoot(), '.ferry', 'bench-schedules');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const say = (l: string) =>
    void process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${l}\n`);
  const machine = machineInfo();
  say(
    `load average ${machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(', ')} on ${machine.cpus} CPUs`,
  );
  const pair = await startDrPair({ dir, controlPlane: false, log: say });
  let connection: Connection | undefined;
  try {
    const kube = await pair.kube(SITE);
    const policyName = `bench-every-${args.intervalMinutes}-min`;
    await kube.apply(storkKind('SchedulePolicy'), {
      apiVersion: GROUP_VERSION,
      kind: 'SchedulePolicy',
      metadata: { name: policyName },
      policy: { interval: { intervalMinutes: args.intervalMinutes } },
    });
    const t = Date.now();
    await prepareNamespaces(pair, kube, Math.max(...args.sizes));
    say(
      `${Math.max(...args.sizes)} namespaces with a ConfigMap and a ClusterPair in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    connection = await Connection.connect({ address: pair.env.state.temporal.address });
    const temporal = new Client({ connection, namespace: pair.env.state.temporal.namespace });
    const rows: SizeRow[] = [];
    const setup = {
      environment:
        'Temporal dev server + two kube-apiservers (etcd + apiserver only), two agents, one `ferry worker` on the source',
      schedule: `one interval SchedulePolicy (every ${args.intervalMinutes} min); each schedule migrates its own namespace (one ConfigMap, includeVolumes false) to the standby`,
      workerArgs: args.workerArgs,
    };
    const file = args.out ?? path.join(repoRoot(), 'bench', 'results', 'schedules.json');
    const earlier: unknown[] =
      args.append && existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as { runs: unknown[] }).runs
        : [];
    for (const n of args.sizes) {
      rows.push(await runSize(pair, temporal, args, n, policyName, say));
      // After every size: a long run stopped later keeps what it measured.
      if (args.save) {
        const out = { runs: [...earlier, { date: new Date().toISOString(), machine, setup, rows }] };
        writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
        say(`wrote ${file}`);
      }
    }
    process.stdout.write(
      `${setup.environment}; ${setup.schedule}; ${machine.cpus} CPUs, load average at start ${machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(', ')}\n\n`,
    );
    process.stdout.write(table(rows) + '\n');
    if (args.keep) {
      say(
        `--keep: environment up (temporal ${pair.env.state.temporal.address}, kubeconfigs under ${dir}/clusters); Ctrl-C ends it`,
      );
      await new Promise((resolve) => process.once('SIGINT', resolve));
    }
  } finally {
    await connection?.close().catch(() => undefined);
    await pair.stop();
  }
}

runBench(main);
