// A migration survives its worker: kill -9 mid-transfer, start a new worker, and the same
// replication (same id on the agent, not a second one) finishes the migration. Deleting the CR
// mid-transfer cancels the workflow and the agents' transfer, and the standby keeps its last
// whole restore point.
import { jest } from '@jest/globals';
import { tsToMs } from '@temporalio/common';
import fs from 'node:fs';
import path from 'node:path';
import { describeTree, prng, sleep } from '../agents/trees.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';

jest.setTimeout(240_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'durable';
const VOLUME = 'durable-data';
const MiB = 1024 * 1024;

beforeAll(async () => {
  world = await startDrWorld('durability');
  const src = world.agents.source;
  await src.client().createVolume(VOLUME);
  const vol = src.volumePath(VOLUME);
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(64 * MiB, `part-${i}`));
  await world.kubectl('source', ['create', 'namespace', NS]);
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: { name: 'pv-durable' },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            hostPath: { path: vol },
            claimRef: { namespace: NS, name: 'data' },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', namespace: NS },
          spec: {
            accessModes: ['ReadWriteOnce'],
            volumeName: 'pv-durable',
            resources: { requests: { storage: '1Gi' } },
          },
        },
      ],
    }),
  );
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
});

afterAll(async () => {
  await world?.stop();
});

/**
 * Waits until Migration `name`'s transfer step runs (its activity started) and the source agent
 * transfers `volume`, with at least `bytes` sent; returns the replication. The step is waited for:
 * the snapshot step starts the replication, which moves data before the transfer step begins.
 */
async function transferring(name: string, volume: string, bytes: number) {
  const client = world.agents.source.client();
  const handle = world.temporal.workflow.getHandle(`migration/${NS}/${name}`);
  const stepRuns = async (): Promise<boolean> =>
    ((await handle.describe().catch(() => null))?.raw.pendingActivities ?? []).some(
      (a) => a.activityType?.name === 'transferVolume' && a.state === 2, // PENDING_ACTIVITY_STATE_STARTED
    );
  try {
    for (let i = 0; i < 1200; i++) {
      const r = (await client.listReplications()).find(
        (x) => x.volume === volume && x.phase === 'transferring',
      );
      if (r && r.bytesDone >= bytes && (await stepRuns())) return r;
      await sleep(25);
    }
    throw new Error(`no transfer of ${volume} seen`);
  } finally {
    client.close();
  }
}

/** Runs `fn` with the destination agent stopped (SIGSTOP), continuing it after. */
async function frozenDestination<T>(fn: () => Promise<T>): Promise<T> {
  const pid = world.agents.destination.pid;
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('Migration durability', () => {
  it('kill -9 of the worker mid-transfer: a new worker finishes the same replication', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'killed', { clusterPair: 'remote', namespaces: [NS] }),
    );
    const during = await transferring('killed', VOLUME, 1);
    expect(during.bytesDone).toBeLessThan(during.bytesTotal);
    await world.worker.kill();
    await world.restartWorker();
    const status = (await world.waitForMigration(NS, 'killed', 120_000))['status'] as Obj;
    expect(status.status).toBe('Successful');
    const client = world.agents.source.client();
    const replications = (await client.listReplications()).filter((r) => r.volume === VOLUME);
    client.close();
    // One replication, the one in flight at the kill: resumed, not started again.
    expect(replications.map((r) => r.id)).toEqual([during.id]);
    expect(replications[0]!.phase).toBe('succeeded');
    expect(status.volumes[0]).toMatchObject({ status: 'Successful', bytesDone: replications[0]!.bytesDone });
    expect(describeTree(world.agents.destination.standbyPath(VOLUME))).toEqual(
      describeTree(world.agents.source.volumePath(VOLUME)),
    );
    const history = await world.temporal.workflow.getHandle(`migration/${NS}/killed`).fetchHistory();
    const retried = (history.events ?? []).filter(
      (e) =>
        e.activityTaskStartedEventAttributes?.attempt && e.activityTaskStartedEventAttributes.attempt > 1,
    );
    expect(retried.length).toBeGreaterThanOrEqual(1);
  });

  it('deleting the CR mid-transfer cancels the workflow and the transfer; the standby keeps its last restore point', async () => {
    const vol = world.agents.source.volumePath(VOLUME);
    const standby = world.agents.destination.standbyPath(VOLUME);
    const before = describeTree(standby);
    for (let i = 0; i < 6; i++)
      fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(64 * MiB, `second-${i}`));
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'deleted', { clusterPair: 'remote', namespaces: [NS] }),
    );
    const during = await transferring('deleted', VOLUME, 1);
    const handle = world.temporal.workflow.getHandle(`migration/${NS}/deleted`);
    // Most of the data moved during the snapshot step: the destination is frozen so that what is
    // left cannot finish before the cancellation reaches the transfer step.
    await frozenDestination(async () => {
      await world.kubectl('source', [
        'delete',
        'migration',
        '-n',
        NS,
        'deleted',
        '--wait=true',
        '--timeout=60s',
      ]);
      await handle.result().catch(() => undefined);
    });
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    // The workflow waited for the transfer activity to acknowledge the cancellation.
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
    expect(events.some((e) => e.activityTaskCanceledEventAttributes)).toBe(true);
    const client = world.agents.source.client();
    const r = await client.getReplication(during.id);
    client.close();
    expect(r.phase).toBe('cancelled');
    expect(describeTree(standby)).toEqual(before);
  });

  it('a Migration that fails between its snapshot and transfer steps cancels the replication the snapshot step started', async () => {
    const vol = world.agents.source.volumePath(VOLUME);
    const standby = world.agents.destination.standbyPath(VOLUME);
    const before = describeTree(standby);
    fs.writeFileSync(path.join(vol, 'part-0.bin'), prng(64 * MiB, 'unconfirmed'));
    // The post-exec rule runs after the snapshot step: one that does not exist fails the Migration.
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'no-rule', { clusterPair: 'remote', namespaces: [NS], postExecRule: 'missing' }),
    );
    const m = (await world.waitForMigration(NS, 'no-rule'))['status'] as Obj;
    expect(m).toMatchObject({ status: 'Failed', stage: 'Final' });
    expect(m.reason).toMatch(/PostExecRule.*Rule durable\/missing not found/);
    const handle = world.temporal.workflow.getHandle(`migration/${NS}/no-rule`);
    const events = (await handle.fetchHistory()).events ?? [];
    const started = tsToMs(events.find((e) => e.activityTaskScheduledEventAttributes)?.eventTime);
    expect(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stopTransfers'),
    ).toHaveLength(1);
    expect(
      events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'transferVolume'),
    ).toBe(false);
    // cancelled when the Migration failed, not after the agent's 5-minute confirm window
    const client = world.agents.source.client();
    const mine = (await client.listReplications()).filter(
      (r) => r.volume === VOLUME && Date.parse(r.startedAt) >= started,
    );
    client.close();
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ phase: 'cancelled', restorePoint: null });
    expect(mine[0]!.error?.message).toBe('replication cancelled');
    expect(describeTree(standby)).toEqual(before);
  });

  it('temporal workflow cancel ends the migration Failed with reason "cancelled" in the CR', async () => {
    const vol = world.agents.source.volumePath(VOLUME);
    for (let i = 0; i < 6; i++)
      fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(64 * MiB, `third-${i}`));
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'cancelled', { clusterPair: 'remote', namespaces: [NS] }),
    );
    await transferring('cancelled', VOLUME, 1);
    const m = await frozenDestination(async () => {
      await world.temporal.workflow.getHandle(`migration/${NS}/cancelled`).cancel();
      return world.waitForMigration(NS, 'cancelled');
    });
    expect(m['status']).toMatchObject({ status: 'Failed', stage: 'Final', reason: 'cancelled' });
    // The Event is written after the status the wait above saw: read until it is there (it failed
    // once in CI when read only once, right after the status).
    const messages = await eventually(
      'the Migration failed: cancelled Event',
      async () => {
        const events = (await world.kube.source.request(
          'GET',
          `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name=cancelled`,
        )) as Obj;
        const m: string[] = events.items.map((e: Obj) => e.message);
        return m.includes('Migration failed: cancelled') ? m : undefined;
      },
      30_000,
      250,
    ).catch(async () => {
      const events = (await world.kube.source.request(
        'GET',
        `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name=cancelled`,
      )) as Obj;
      return events.items.map((e: Obj) => `${e.reason}: ${e.message}`) as string[];
    });
    expect(messages).toContain('Migration failed: cancelled');
  });
});
