// The Migration workflow end to end on real servers: kubectl apply of a Migration on the source
// cluster, Ferry's worker (a real process) runs it through Temporal, the agents move the volume,
// and the standby cluster ends up with every object rewritten for DR and the data byte for byte.
import { jest } from '@jest/globals';
import { tsToMs } from '@temporalio/common';
import fs from 'node:fs';
import path from 'node:path';
import { describeTree, prng } from '../agents/trees.js';
import { migrationYaml, shopYaml, widgetYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(180_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'shop';
const VOLUME = 'shop-data';
const PV = 'pv-shop-data';

beforeAll(async () => {
  world = await startDrWorld('migration');
  const src = world.agents.source;
  await src.client().createVolume(VOLUME);
  const vol = src.volumePath(VOLUME);
  fs.mkdirSync(path.join(vol, 'db'), { recursive: true });
  fs.writeFileSync(path.join(vol, 'db', 'table.dat'), prng(24 * 1024 * 1024, 'table'));
  fs.writeFileSync(path.join(vol, 'db', 'wal.log'), 'first\n');
  fs.writeFileSync(path.join(vol, 'db', 'segments.dat'), prng(2 * 1024 * 1024, 'segments'));
  fs.symlinkSync('db/table.dat', path.join(vol, 'current'));
  await world.kubectl('source', ['apply', '-f', '-'], shopYaml(NS, { volumePath: vol, pv: PV }));
  await world.kubectl('source', ['wait', '--for', 'condition=established', 'crd/widgets.example.ferry.dev']);
  await world.kubectl('source', ['apply', '-f', '-'], widgetYaml(NS));
  // A ReplicaSet the Deployment owns: a real cluster's controller makes one; it must not migrate.
  const deploy = (await world.kube.source.request(
    'GET',
    `/apis/apps/v1/namespaces/${NS}/deployments/web`,
  )) as Obj;
  await world.kube.source.request('POST', `/apis/apps/v1/namespaces/${NS}/replicasets`, {
    body: {
      metadata: {
        name: 'web-123',
        labels: { app: 'web' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'web',
            uid: deploy.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'busybox' }] },
        },
      },
    },
  });
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
});

afterAll(async () => {
  await world?.stop();
});

const get = (path: string) => world.kube.destination.request('GET', path) as Promise<Obj>;
const getSource = (path: string) => world.kube.source.request('GET', path) as Promise<Obj>;

async function events(name: string): Promise<string[]> {
  const list = (await getSource(
    `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name=${name}`,
  )) as Obj;
  return list.items.map((e: Obj) => `${e.type} ${e.reason}: ${e.message}`);
}

describe('Migration through kubectl apply', () => {
  it('moves every resource, transformed for the standby, and the volume byte for byte', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'first', { clusterPair: 'remote', namespaces: [NS] }),
    );
    const m = await world.waitForMigration(NS, 'first');
    const status = m['status'] as Obj;
    expect(status.reason ?? '').toBe('');
    expect(status.status).toBe('Successful');
    expect(status.stage).toBe('Final');
    expect(status.volumes).toEqual([
      expect.objectContaining({
        persistentVolumeClaim: 'data',
        namespace: NS,
        volume: VOLUME,
        status: 'Successful',
        replicationKind: 'full',
      }),
    ]);
    expect(status.volumes[0].bytesDone).toBeGreaterThanOrEqual(24 * 1024 * 1024);
    expect(status.summary).toMatchObject({ totalNumberOfVolumes: 1, numOfMigratedVolumes: 1 });
    expect(status.summary.numOfMigratedResources).toBe(status.summary.totalNumberOfResources);
    const kinds = status.resources.map((r: Obj) => `${r.kind}/${r.name}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'ConfigMap/settings',
        'CronJob/report',
        'CustomResourceDefinition/widgets.example.ferry.dev',
        'Deployment/web',
        'Namespace/shop',
        'PersistentVolume/pv-shop-data',
        'PersistentVolumeClaim/data',
        'Secret/credentials',
        'Service/db',
        'Service/web',
        'StatefulSet/db',
        'Widget/gear',
      ]),
    );
    expect(kinds).not.toContain('ReplicaSet/web-123');
    expect(kinds).not.toContain('ConfigMap/kube-root-ca.crt');
    expect(m['metadata']).toMatchObject({ finalizers: ['stork.libopenstorage.org/ferry-workflow'] });

    // The data: the standby's restore point equals the source byte for byte.
    const standby = world.agents.destination.standbyPath(VOLUME);
    expect(describeTree(standby)).toEqual(describeTree(world.agents.source.volumePath(VOLUME)));

    // Applications scaled to zero, with the count to restore on activation.
    const web = await get(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
    expect(web.spec.replicas).toBe(0);
    expect(web.metadata.annotations).toMatchObject({
      'stork.libopenstorage.org/migrationReplicas': '3',
      'stork.libopenstorage.org/migrated': 'true',
      'stork.libopenstorage.org/migrationName': 'first',
      'stork.libopenstorage.org/migrationNamespace': NS,
    });
    expect(web.metadata.annotations['stork.libopenstorage.org/migrationTime']).toMatch(
      /^\d{4}-\d\d-\d\d-\d{6}$/,
    );
    const db = await get(`/apis/apps/v1/namespaces/${NS}/statefulsets/db`);
    expect(db.spec.replicas).toBe(0);
    expect(db.metadata.annotations['stork.libopenstorage.org/migrationReplicas']).toBe('1');
    expect((await get(`/apis/batch/v1/namespaces/${NS}/cronjobs/report`)).spec.suspend).toBe(true);
    await expect(get(`/apis/apps/v1/namespaces/${NS}/replicasets/web-123`)).rejects.toMatchObject({
      code: 404,
    });

    // Services: the standby assigns its own cluster IP; a headless one stays headless.
    const srcWeb = await getSource(`/api/v1/namespaces/${NS}/services/web`);
    const dstWeb = await get(`/api/v1/namespaces/${NS}/services/web`);
    expect(dstWeb.spec.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(dstWeb.metadata.uid).not.toBe(srcWeb.metadata.uid);
    expect((await get(`/api/v1/namespaces/${NS}/services/db`)).spec.clusterIP).toBe('None');

    // Config, secrets, the CRD and its instance, the namespace's labels.
    expect((await get(`/api/v1/namespaces/${NS}/configmaps/settings`)).data).toEqual({
      greeting: 'hello',
      mode: 'production',
    });
    expect(
      Buffer.from(
        (await get(`/api/v1/namespaces/${NS}/secrets/credentials`)).data.password,
        'base64',
      ).toString(),
    ).toBe('s3cret');
    expect((await get(`/apis/example.ferry.dev/v1/namespaces/${NS}/widgets/gear`)).spec).toEqual({ size: 7 });
    expect((await get(`/api/v1/namespaces/${NS}`)).metadata.labels).toMatchObject({ team: 'shop' });

    // The PV names the standby's copy, is Retain, and keeps its claim by name.
    const pv = await get(`/api/v1/persistentvolumes/${PV}`);
    expect(pv.spec.hostPath.path).toBe(path.join(world.agents.destination.dataRoot, 'volumes', VOLUME));
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pv.metadata.annotations['stork.libopenstorage.org/reclaimPolicy']).toBe('Delete');
    expect(pv.spec.claimRef).toMatchObject({ namespace: NS, name: 'data' });
    // Migrated without the source claim's uid; the standby's PV controller may bind it to its own.
    const claim = await get(`/api/v1/namespaces/${NS}/persistentvolumeclaims/data`);
    expect([undefined, claim.metadata.uid]).toContain(pv.spec.claimRef.uid);
    expect(claim.spec.volumeName).toBe(PV);

    // Events on the CR, as Stork words them; the ClusterPair's status.
    expect(await events('first')).toEqual(
      expect.arrayContaining([
        'Normal Successful: Volume data migrated successfully',
        'Normal Successful: Migration first completed successfully',
      ]),
    );
    const pair = await getSource(
      `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/clusterpairs/remote`,
    );
    expect(pair.status).toMatchObject({ schedulerStatus: 'Ready', storageStatus: 'Ready' });

    // The query answers the same status as the CR.
    const handle = world.temporal.workflow.getHandle(`migration/${NS}/first`);
    expect(await handle.query('status')).toMatchObject({ status: 'Successful', stage: 'Final' });
    // No credential in the history: not the agent token, not the kubeconfig's token or key.
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain(world.agents.destination.token);
    expect(history).not.toContain(world.agents.source.token);
    const kubeconfig = fs.readFileSync(world.kubeconfig('destination'), 'utf8');
    const secretValues = [
      ...kubeconfig.matchAll(/(?:token|client-key-data|client-certificate-data):\s*(\S+)/g),
    ].map((x) => x[1]!);
    expect(secretValues.length).toBeGreaterThan(0);
    for (const v of secretValues) expect(history).not.toContain(v);
  });

  it('a second migration moves only what changed, leaves unchanged objects alone, and purges what the source deleted', async () => {
    const before = await get(`/api/v1/namespaces/${NS}/configmaps/settings`);
    const vol = world.agents.source.volumePath(VOLUME);
    fs.appendFileSync(path.join(vol, 'db', 'wal.log'), 'second\n');
    const fd = fs.openSync(path.join(vol, 'db', 'table.dat'), 'r+');
    fs.writeSync(fd, prng(4096, 'page'), 0, 4096, 5 * 1024 * 1024);
    fs.closeSync(fd);
    await world.kubectl('source', ['delete', 'secret', '-n', NS, 'credentials']);
    await world.kubectl('source', ['create', 'configmap', '-n', NS, 'extra', '--from-literal=k=v']);
    const prepared = async (result: string): Promise<number> => {
      const c = world.agents.destination.client();
      try {
        const m = new RegExp(
          `^ferry_agent_standby_prepared_copies_total\\{result="${result}"\\} (\\S+)$`,
          'm',
        );
        return Number(m.exec(await c.metrics())?.[1]);
      } finally {
        c.close();
      }
    };
    // segments.dat's halves swapped: its chunks move to other offsets, so the standby rewrites it
    // from chunks (patching does not pay) while sending only the few chunks around the seam.
    const segments = fs.readFileSync(path.join(vol, 'db', 'segments.dat'));
    fs.writeFileSync(
      path.join(vol, 'db', 'segments.dat'),
      Buffer.concat([segments.subarray(1024 * 1024), segments.subarray(0, 1024 * 1024)]),
    );
    const [started, taken] = [await prepared('started'), await prepared('taken')];

    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'second', { clusterPair: 'remote', namespaces: [NS], purgeDeletedResources: true }),
    );
    const status = (await world.waitForMigration(NS, 'second'))['status'] as Obj;
    expect(status.status).toBe('Successful');
    expect(status.volumes[0].replicationKind).toBe('incremental');
    // One 4 KiB page and a line changed in a 24 MiB volume: well under one chunk's worth each.
    expect(status.volumes[0].bytesDone).toBeLessThan(1024 * 1024);
    // The Migration's snapshot named both changed large files to the standby's agent as it found
    // them (the replication alone would have named only table.dat, whose patch pays: it compares
    // chunks), which copied them while the snapshot and the transfer ran; the commit patched the
    // copy of table.dat and deleted the other.
    expect((await prepared('started')) - started).toBe(2);
    expect((await prepared('taken')) - taken).toBe(1);
    expect(describeTree(world.agents.destination.standbyPath(VOLUME))).toEqual(describeTree(vol));
    // The snapshot step started the volume's replication (awaiting confirmation) before the
    // transfer step was scheduled, and that step confirmed it rather than starting another; the
    // changed page went as a delta.
    const events =
      (await world.temporal.workflow.getHandle(`migration/${NS}/second`).fetchHistory()).events ?? [];
    const scheduled = (activity: string): number[] =>
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)
        .map((e) => tsToMs(e.eventTime));
    expect(scheduled('transferVolume')).toHaveLength(1);
    const src = world.agents.source.client();
    const replications = (await src.listReplications()).filter((r) => r.volume === VOLUME);
    src.close();
    const mine = replications.at(-1)!;
    expect(mine).toMatchObject({ phase: 'succeeded', attempt: 1, kind: 'incremental' });
    expect(mine.chunksDelta).toBeGreaterThan(0);
    expect(Date.parse(mine.startedAt)).toBeGreaterThanOrEqual(scheduled('snapshotVolumes')[0]!);
    expect(Date.parse(mine.startedAt)).toBeLessThan(scheduled('transferVolume')[0]!);
    expect(
      replications.filter((r) => Date.parse(r.startedAt) >= scheduled('snapshotVolumes')[0]!),
    ).toHaveLength(1);

    const after = await get(`/api/v1/namespaces/${NS}/configmaps/settings`);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.metadata.annotations['stork.libopenstorage.org/migrationName']).toBe('first');
    expect((await get(`/api/v1/namespaces/${NS}/configmaps/extra`)).data).toEqual({ k: 'v' });
    await expect(get(`/api/v1/namespaces/${NS}/secrets/credentials`)).rejects.toMatchObject({ code: 404 });
    expect(status.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'Secret', name: 'credentials', status: 'Purged' }),
      ]),
    );
  });

  it('startApplications keeps the replicas', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'started', {
        clusterPair: 'remote',
        namespaces: [NS],
        startApplications: true,
        includeVolumes: false,
      }),
    );
    const status = (await world.waitForMigration(NS, 'started'))['status'] as Obj;
    expect(status.status).toBe('Successful');
    expect((await get(`/apis/apps/v1/namespaces/${NS}/deployments/web`)).spec.replicas).toBe(3);
    expect((await get(`/apis/batch/v1/namespaces/${NS}/cronjobs/report`)).spec.suspend).toBe(false);
  });
});
