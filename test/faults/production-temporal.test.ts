// Production Temporal, scaled out, under faults. Temporal Server on PostgreSQL 15 (not the dev
// server), two API-only clusters, a storage agent per cluster and two `ferry worker` processes on
// one task queue, all real and on loopback:
//   a. several Migrations at once are shared by both workers; kill -9 of a worker running a
//      transfer leaves the other to finish every one, byte for byte;
//   b. a MigrationSchedule on a 1-minute policy carries on across Temporal Server restarts, one
//      mid-migration and one between triggers: the next migrations come with the expected names,
//      none lost, none twice.
// The figures (times, counts) are printed as `[faults]` lines.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TemporalPostgres } from '../../localenv/temporal-postgres.js';
import type { WorkerHandle } from '../../localenv/worker.js';
import { describeTree, prng } from '../agents/trees.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { volumeAppYaml } from '../fixtures/apps/volume-app.js';
import type { DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';
import { startFaultWorld, type FaultWorld } from '../harness/fault-world.js';

jest.setTimeout(300_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MiB = 1024 * 1024;
const say = (line: string) => void process.stderr.write(`[faults] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

let f: FaultWorld;
let temporal: TemporalPostgres;
let world: DrWorld;

const identityOf = (w: WorkerHandle) => `${w.pid}@${os.hostname()}`;

/** An app with one volume of `files` × `fileMiB` MiB on the source agent, and its ClusterPair. */
async function appWithVolume(ns: string, files: number, fileMiB: number): Promise<string> {
  const volume = `${ns}-data`;
  await world.agents.source.client().createVolume(volume);
  const vol = world.agents.source.volumePath(volume);
  for (let i = 0; i < files; i++)
    fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(fileMiB * MiB, `${ns}-${i}`));
  await world.kubectl('source', ['apply', '-f', '-'], volumeAppYaml(ns, { volumePath: vol, pv: `pv-${ns}` }));
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ns, 'remote'));
  return volume;
}

const sameBytes = (volume: string) =>
  expect(describeTree(world.agents.destination.standbyPath(volume))).toEqual(
    describeTree(world.agents.source.volumePath(volume)),
  );

/** Resolves once the source agent sends `volume`, part of it sent and part still to go. */
const midTransfer = (volume: string) =>
  eventually(
    `a transfer of ${volume} in progress`,
    async () => {
      const client = world.agents.source.client();
      try {
        const r = (await client.listReplications()).find(
          (x) => x.volume === volume && x.phase === 'transferring' && x.bytesDone > 0,
        );
        return r && r.bytesDone < r.bytesTotal ? r : undefined;
      } finally {
        client.close();
      }
    },
    120_000,
    25,
  );

beforeAll(async () => {
  f = await startFaultWorld('production-temporal', say);
  ({ temporal, world } = f);
}, 1_800_000);

afterAll(async () => {
  await f?.stop();
});

describe('two workers on one task queue', () => {
  const APPS = ['fa-1', 'fa-2', 'fa-3', 'fa-4'];
  const FILES = 2;
  const FILE_MIB = 32;

  it('share the migrations; kill -9 of one mid-transfer and the other finishes them all', async () => {
    const volumes = await Promise.all(APPS.map((ns) => appWithVolume(ns, FILES, FILE_MIB)));
    const workers = { a: world.worker, b: f.workerB };
    const nameOf = new Map(Object.entries(workers).map(([n, w]) => [identityOf(w), `worker-${n}`]));

    const t0 = Date.now();
    await Promise.all(
      APPS.map((ns) =>
        world.kubectl(
          'source',
          ['apply', '-f', '-'],
          migrationYaml(ns, 'scale', { clusterPair: 'remote', namespaces: [ns] }),
        ),
      ),
    );
    const handles = APPS.map((ns) => world.temporal.workflow.getHandle(`migration/${ns}/scale`));

    // The victim: a worker that runs a volume transfer now, with bytes still to send.
    const victim = await eventually(
      'a transferVolume activity running on a worker, mid-transfer',
      async () => {
        for (const [i, h] of handles.entries()) {
          const d = await h.describe().catch(() => undefined);
          const running = d?.raw.pendingActivities?.find(
            (a) =>
              a.activityType?.name === 'transferVolume' &&
              Number(a.state) === 2 && // STARTED
              a.lastWorkerIdentity &&
              nameOf.has(a.lastWorkerIdentity),
          );
          if (!running) continue;
          const r = await midTransfer(volumes[i]!).catch(() => undefined);
          if (r)
            return { identity: running.lastWorkerIdentity!, workflowId: h.workflowId, volume: volumes[i]! };
        }
        return undefined;
      },
      120_000,
      50,
    );
    const victimName = nameOf.get(victim.identity)!;
    const killedAt = Date.now() - t0;
    await (victimName === 'worker-a' ? world.worker : f.workerB).kill();
    say(
      `kill -9 ${victimName} (${victim.identity}) ${secs(killedAt)} after the migrations started, while it sent ${victim.volume}`,
    );

    const statuses = await Promise.all(APPS.map((ns) => world.waitForMigration(ns, 'scale', 240_000)));
    const doneMs = Date.now() - t0;
    for (const m of statuses) expect((m['status'] as Obj).status).toBe('Successful');
    for (const v of volumes) sameBytes(v);

    // Who did what, from Temporal's histories: the identity of each completed activity and
    // workflow task, and the transfers retried after the kill.
    const completed: Record<string, number> = {};
    const workflowTasks: Record<string, number> = {};
    let retriedBySurvivor = 0;
    for (const h of handles) {
      const events = (await h.fetchHistory()).events ?? [];
      const startedBy = new Map<string, string>();
      for (const e of events) {
        const started = e.activityTaskStartedEventAttributes;
        if (started) {
          startedBy.set(String(started.scheduledEventId), started.identity ?? '');
          if ((started.attempt ?? 1) > 1 && started.identity !== victim.identity) retriedBySurvivor++;
        }
        const done = e.activityTaskCompletedEventAttributes;
        if (done) {
          const who =
            nameOf.get(done.identity ?? startedBy.get(String(done.scheduledEventId)) ?? '') ?? 'other';
          completed[who] = (completed[who] ?? 0) + 1;
        }
        const wt = e.workflowTaskCompletedEventAttributes;
        if (wt) {
          const who = nameOf.get(wt.identity ?? '') ?? 'other';
          workflowTasks[who] = (workflowTasks[who] ?? 0) + 1;
        }
      }
    }
    say(
      `${APPS.length} migrations of ${FILES * FILE_MIB} MiB each: all Successful ${secs(doneMs)} after they started; ` +
        `activities completed ${JSON.stringify(completed)}, workflow tasks ${JSON.stringify(workflowTasks)}, ` +
        `activity attempts retried on the survivor: ${retriedBySurvivor}`,
    );
    expect(completed['worker-a']).toBeGreaterThan(0);
    expect(completed['worker-b']).toBeGreaterThan(0);
    expect(completed['other']).toBeUndefined();
    expect(retriedBySurvivor).toBeGreaterThan(0);
    // The transfer the victim ran was finished by the survivor.
    const victimHistory =
      (await world.temporal.workflow.getHandle(victim.workflowId).fetchHistory()).events ?? [];
    const transferScheduled = new Set(
      victimHistory
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'transferVolume')
        .map((e) => String(e.eventId)),
    );
    const finisher = victimHistory
      .filter((e) => transferScheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)))
      .map((e) => e.activityTaskCompletedEventAttributes?.identity);
    expect(finisher.length).toBeGreaterThan(0);
    expect(finisher).not.toContain(victim.identity);

    // Back to two workers for what follows.
    if (victimName === 'worker-a') await world.restartWorker();
    else f.workerB = await f.workerB.restart();
  });
});

describe('Temporal Server restarts', () => {
  const NS = 'fsched';
  const POLICY = `faults-every-minute-${process.pid}`;
  const manifests = `
apiVersion: stork.libopenstorage.org/v1alpha1
kind: SchedulePolicy
metadata:
  name: ${POLICY}
policy:
  interval:
    intervalMinutes: 1
---
apiVersion: stork.libopenstorage.org/v1alpha1
kind: MigrationSchedule
metadata:
  name: nightly
  namespace: ${NS}
spec:
  template:
    spec:
      clusterPair: remote
      includeResources: true
      includeVolumes: true
      startApplications: false
      namespaces:
        - ${NS}
  schedulePolicyName: ${POLICY}
`;
  const NAME = /^nightly-interval-(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})$/;
  const stampMs = (n: string) => {
    const m = NAME.exec(n)!;
    return Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
  };
  const scheduled = async (): Promise<Obj[]> =>
    (
      JSON.parse(
        await world.kubectl('source', [
          'get',
          'migrations',
          '-n',
          NS,
          '-l',
          'stork.libopenstorage.org/migration-schedule-name=nightly',
          '-o',
          'json',
        ]),
      ) as Obj
    ).items;
  /** Resolves with the names of the first `n` scheduled migrations once they are all final. */
  const finished = (n: number) =>
    eventually(
      `${n} scheduled migrations final`,
      async () => {
        const items = (await scheduled()).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
        const first = items.slice(0, n);
        return first.length === n && first.every((m) => ['Successful', 'Failed'].includes(m.status?.status))
          ? first
          : undefined;
      },
      200_000,
      1000,
    );

  afterAll(async () => {
    await world
      ?.kubectl('source', ['delete', 'schedulepolicy', POLICY, '--ignore-not-found'])
      .catch(() => '');
  });

  it('a MigrationSchedule carries on: restarts mid-migration and between triggers lose and repeat nothing', async () => {
    const volume = await appWithVolume(NS, 3, 32);
    const t0 = Date.now();
    await world.kubectl('source', ['apply', '-f', '-'], manifests);

    // The first interval trigger fires at once: restart the server while its volume moves.
    await midTransfer(volume);
    const midMs = Date.now() - t0;
    const restartMid = await temporal.restart();
    say(
      `restarted Temporal Server mid-migration (${secs(midMs)} after apply): down and back in ${secs(restartMid)}`,
    );
    const [first] = await finished(1);
    const firstName = first!.metadata.name as string;
    expect(first!.status.status).toBe('Successful');
    say(`${firstName} Successful ${secs(Date.now() - t0)} after apply`);

    // Between triggers: the schedule sleeps on a durable timer while the server is away.
    const restartBetween = await temporal.restart();
    say(`restarted Temporal Server between triggers: down and back in ${secs(restartBetween)}`);
    fs.writeFileSync(
      path.join(world.agents.source.volumePath(volume), 'between.bin'),
      prng(8 * MiB, 'between'),
    );

    const [, second] = await finished(2);
    const secondName = second!.metadata.name as string;
    expect(second!.status.status).toBe('Successful');
    expect(stampMs(secondName) - stampMs(firstName)).toBe(60_000);
    sameBytes(volume);
    say(`${secondName} Successful ${secs(Date.now() - t0)} after apply`);

    // Nothing lost, nothing twice: every migration on the grid from the first one up to the
    // newest exists once as a CR and once as a workflow; the schedule counted each trigger once.
    const names = (await scheduled()).map((m) => m.metadata.name as string).sort();
    const last = stampMs(names[names.length - 1]!);
    const grid = [];
    for (let t = stampMs(firstName); t <= last; t += 60_000) {
      grid.push(
        `nightly-interval-${new Date(t).toISOString().slice(0, 19).replace('T', '-').replaceAll(':', '')}`,
      );
    }
    expect(names).toEqual(grid);
    for (const n of [firstName, secondName]) {
      const runs = [];
      for await (const w of world.temporal.workflow.list({ query: `WorkflowId = 'migration/${NS}/${n}'` }))
        runs.push(w);
      expect(runs.map((r) => r.status.name)).toEqual(['COMPLETED']);
    }
    const schedule = world.temporal.workflow.getHandle(`migrationschedule/${NS}/nightly`);
    const status = (await schedule.query('status')) as { counts: Record<string, number> };
    expect(status.counts['skipped']).toBe(0);
    expect(status.counts['triggered']).toBe(names.length);
    expect(status.counts['succeeded']).toBeGreaterThanOrEqual(2);
    say(
      `schedule after 2 restarts: ${names.length} migrations (${names.join(', ')}), counts ${JSON.stringify(status.counts)}`,
    );

    await world.kubectl('source', ['delete', 'migrationschedule', 'nightly', '-n', NS, '--timeout=60s']);
  });
});
