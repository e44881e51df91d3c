// `npm run bench:migrations [-- --migrations 100 --volume-kib 256 --no-save]`: N Migrations applied
// at once to ONE `ferry worker` (Temporal dev server, two API-only clusters, two agents). Each
// migrates its own namespace: a ConfigMap, a PVC and its hostPath PV on a volume of the source
// agent holding `--volume-kib` of random bytes. Measured:
//   memory       the worker's peak RSS (VmHWM of its process tree) and its RSS before the apply;
//   starvation   per migration, from its workflow's start to its first activity's start (Temporal
//                history): p50, p99, max; from its start to its close (history); and from the CR's
//                apply to its final status (polled every second);
//   outcome      how many ended Successful (all must, or the bench exits 1).
// Writes a table to stdout and bench/results/migrations.json (unless --no-save).
import { Client, Connection } from '@temporalio/client';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KINDS as KUBE_KINDS } from '../kube/client.js';
import { storkKind } from '../activities/kube/stork.js';
import { GROUP_VERSION } from '../api/kinds/meta.js';
import { startDrPair } from '../localenv/dr-pair.js';
import { repoRoot } from '../localenv/paths.js';
import { migrationWorkflowId } from '../workflows/migration.js';
import { machineInfo } from './machine.js';
import { inPool, rssBytes, runBench, sampleTree } from './measure.js';

const SITE = 'source';
const MiB = 1024 * 1024;
const USAGE = `usage: npm run bench:migrations -- [--migrations N (default 100)] [--volume-kib K (default 256)] [--no-save]\n`;

function parse(argv: string[]): { migrations: number; volumeKiB: number; save: boolean } {
  const a = { migrations: 100, volumeKiB: 256, save: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const count = (min: number) => {
      const v = argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < min)
        throw new Error(`${flag} ${JSON.stringify(v)}: expected a whole number ≥ ${min}`);
      return n;
    };
    if (flag === '--migrations') a.migrations = count(1);
    else if (flag === '--volume-kib') a.volumeKiB = count(1);
    else if (flag === '--no-save') a.save = false;
    else throw new Error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
  }
  return a;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
const ms = (t: unknown) => (t instanceof Date ? t.getTime() : Number(t));

async function main(): Promise<void> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:migrations: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const dir = path.join(repoRoot(), '.ferry', 'bench-migrations');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const say = (l: string) =>
    void process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${l}\n`);
  const machine = machineInfo();
  const pair = await startDrPair({ dir, controlPlane: false, log: say });
  let connection: Connection | undefined;
  try {
    const kube = await pair.kube(SITE);
    const worker = await pair.startWorker(SITE);
    const source = pair.agents.source.client();
    const names = Array.from({ length: args.migrations }, (_, i) => `load-${String(i + 1).padStart(3, '0')}`);
    let t = Date.now();
    await inPool(names, async (ns) => {
      const volume = (await source.createVolume(`${ns}-data`)).path;
      writeFileSync(path.join(volume, 'data.bin'), Buffer.alloc(args.volumeKiB * 1024, ns));
      await kube.apply(KUBE_KINDS.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      await kube.apply(KUBE_KINDS.pv, {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `pv-${ns}` },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          hostPath: { path: volume },
          claimRef: { namespace: ns, name: 'data' },
        },
      });
      await kube.apply(KUBE_KINDS.pvc, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', namespace: ns },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
          volumeName: `pv-${ns}`,
        },
      });
      await kube.apply(storkKind('ClusterPair'), pair.clusterPair(SITE, 'remote', ns));
    });
    source.close();
    say(
      `${names.length} namespaces, each a ${args.volumeKiB} KiB volume with its PV/PVC and a ClusterPair, in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );

    const rssBefore = rssBytes(worker.pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssBytes(worker.pid))), 500);
    t = Date.now();
    await inPool(names, (ns) =>
      kube
        .apply(storkKind('Migration'), {
          apiVersion: GROUP_VERSION,
          kind: 'Migration',
          metadata: { name: 'load', namespace: ns },
          spec: { clusterPair: 'remote', namespaces: [ns] },
        })
        .then(() => undefined),
    );
    say(`applied ${names.length} Migrations in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const finalAt = new Map<string, { status: string; ms: number }>();
    const deadline = Date.now() + 30 * 60_000;
    while (finalAt.size < names.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      await inPool(
        names.filter((n) => !finalAt.has(n)),
        async (ns) => {
          const m = (await kube.request(
            'GET',
            `/apis/${GROUP_VERSION}/namespaces/${ns}/migrations/load`,
          )) as { status?: { status?: string } };
          const s = m.status?.status;
          if (s && ['Successful', 'PartialSuccess', 'Failed'].includes(s))
            finalAt.set(ns, { status: s, ms: Date.now() - t });
        },
      );
    }
    clearInterval(sampler);
    const peak = sampleTree(worker.pid).peakRssBytes;
    const makespanMs = Date.now() - t;

    connection = await Connection.connect({ address: pair.env.state.temporal.address });
    const temporal = new Client({ connection, namespace: pair.env.state.temporal.namespace });
    const waits: number[] = [];
    const runs: number[] = [];
    await inPool(names, async (ns) => {
      const events =
        (await temporal.workflow.getHandle(migrationWorkflowId(ns, 'load')).fetchHistory()).events ?? [];
      const at = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined =>
        t ? ms(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : undefined;
      const started = at(events.find((e) => e.workflowExecutionStartedEventAttributes)?.eventTime);
      const first = at(events.find((e) => e.activityTaskStartedEventAttributes)?.eventTime);
      const closed = at(events.at(-1)?.eventTime);
      if (started !== undefined && first !== undefined) waits.push(first - started);
      if (started !== undefined && closed !== undefined) runs.push(closed - started);
    });
    waits.sort((a, b) => a - b);
    runs.sort((a, b) => a - b);
    const ends = [...finalAt.values()].map((f) => f.ms).sort((a, b) => a - b);
    const successful = [...finalAt.values()].filter((f) => f.status === 'Successful').length;
    const row = {
      migrations: names.length,
      volumeKiB: args.volumeKiB,
      successful,
      final: finalAt.size,
      makespanSeconds: makespanMs / 1000,
      toFirstActivityMs: {
        p50: quantile(waits, 0.5),
        p99: quantile(waits, 0.99),
        max: waits[waits.length - 1],
        measured: waits.length,
      },
      applyToFinalSeconds: { p50: quantile(ends, 0.5) / 1000, max: ends[ends.length - 1]! / 1000 },
      workflowMs: { p50: quantile(runs, 0.5), max: runs[runs.length - 1] },
      workerRssBeforeMiB: rssBefore / MiB,
      workerRssPeakMiB: Math.max(peak, rssMax) / MiB,
    };
    const table = [
      `| migrations | Successful | makespan | workflow start → first activity p50 / p99 / max | workflow start → close p50 / max | apply → final p50 / max | worker RSS before → peak |`,
      `|---|---|---|---|---|---|---|`,
      `| ${row.migrations} × ${row.volumeKiB} KiB | ${row.successful}/${row.migrations} | ${row.makespanSeconds.toFixed(1)} s | ${row.toFirstActivityMs.p50.toFixed(0)} / ${row.toFirstActivityMs.p99.toFixed(0)} / ${row.toFirstActivityMs.max!.toFixed(0)} ms | ${row.workflowMs.p50.toFixed(0)} / ${row.workflowMs.max!.toFixed(0)} ms | ${row.applyToFinalSeconds.p50.toFixed(1)} / ${row.applyToFinalSeconds.max.toFixed(1)} s | ${row.workerRssBeforeMiB.toFixed(0)} → ${row.workerRssPeakMiB.toFixed(0)} MiB |`,
    ].join('\n');
    process.stdout.write(
      `${machine.cpus} CPUs, load average at start ${machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(', ')}\n\n${table}\n`,
    );
    if (args.save) {
      const file = path.join(repoRoot(), 'bench', 'results', 'migrations.json');
      writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, row }, null, 2) + '\n');
      say(`wrote ${file}`);
    }
    if (successful < names.length) {
      say(`${names.length - successful} migrations did not end Successful`);
      process.exitCode = 1;
    }
  } finally {
    await connection?.close().catch(() => undefined);
    await pair.stop();
  }
}

runBench(main);
