// A migration survives its worker: kill -9 mid-transfer, start a new worker, and the same
// replication (same id on the agent, not a second one) finishes the migration. Deleting the CR
// mid-transfer cancels the workflow and the agents' transfer, and the standby keeps its last
// whole restore point.
import { jest } from '@jest/globals';
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

/** Waits until the source agent transfers `volume`, with at least `bytes` sent; returns the replication. */
async function transferring(volume: string, bytes: number) {
  const client = world.agents.source.client();
  try {
    for (let i = 0; i < 1200; i++) {
      const r = (await client.listReplications()).find(
        (x) => x.volume === volume && x.phase === 'transferring',
      );
      if (r && r.bytesDone >= bytes) return r;
      await sleep(25);
    }
    throw new Error(`no transfer of ${volume} seen`);
  } finally {
    client.close();
  }
}

describe('Migration durability', () => {
  it('kill -9 of the worker mid-transfer: a new worker finishes the same replication', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'killed', { clusterPair: 'remote', namespaces: [NS] }),
    );
    const during = await transferring(VOLUME, 1);
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
    const during = await transferring(VOLUME, 1);
    await world.kubectl('source', [
      'delete',
      'migration',
      '-n',
      NS,
      'deleted',
      '--wait=true',
      '--timeout=60s',
    ]);
    const handle = world.temporal.workflow.getHandle(`migration/${NS}/deleted`);
    await handle.result().catch(() => undefined);
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

  it('temporal workflow cancel ends the migration Failed with reason "cancelled" in the CR', async () => {
    const vol = world.agents.source.volumePath(VOLUME);
    for (let i = 0; i < 6; i++)
      fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(64 * MiB, `third-${i}`));
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'cancelled', { clusterPair: 'remote', namespaces: [NS] }),
    );
    await transferring(VOLUME, 1);
    await world.temporal.workflow.getHandle(`migration/${NS}/cancelled`).cancel();
    const m = await world.waitForMigration(NS, 'cancelled');
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
    ).catch(() => [] as string[]);
    expect(messages).toContain('Migration failed: cancelled');
  });
});
