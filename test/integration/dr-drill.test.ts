// The drill users buy Ferry for, on real nodes: PostgreSQL runs on the source on a volume of the
// source agent; a Migration whose pre-exec Rule runs CHECKPOINT through psql in the pod moves the
// app and its data to the standby, scaled to 0; rows written afterwards stay on the source. Then
// the standby is brought up by hand as `storkctl activate` will do it (the destination agent
// promotes the volume to the path the migrated PV names, the StatefulSet is scaled to its
// migrationReplicas), and a query there returns exactly the rows written before the migration.
// A failing Rule fails a migration with the pod and the command's output in the reason.
import { jest } from '@jest/globals';
import path from 'node:path';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { postgresIn, postgresSampleYaml } from '../harness/postgres.js';

jest.setTimeout(300_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const describeNodes = process.env.FERRY_TEST_NODES === '0' ? describe.skip : describe;
const NS = 'pgdrill';
const VOLUME = 'pgdrill-data-0';

let world: DrWorld;

const { ready, psql } = postgresIn(() => world, NS);

describeNodes('DR drill: PostgreSQL on real nodes', () => {
  beforeAll(async () => {
    world = await startDrWorld('drill');
    const source = world.agents.source;
    const client = source.client();
    await client.createVolume(VOLUME);
    client.close();
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      await postgresSampleYaml(NS, VOLUME, path.join(source.dataRoot, 'volumes')),
    );
    await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
    const rule = (name: string, command: string) =>
      JSON.stringify({
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'Rule',
        metadata: { name, namespace: NS },
        rules: [{ podSelector: { app: 'postgres' }, actions: [{ type: 'command', value: command }] }],
      });
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      rule('checkpoint', 'psql -h /tmp -U postgres -c CHECKPOINT'),
    );
    await world.kubectl('source', ['apply', '-f', '-'], rule('mark', 'date +%s > /tmp/post-exec-ran'));
    await world.kubectl('source', ['apply', '-f', '-'], rule('broken', 'echo "disk on fire" >&2; exit 3'));
    await ready('source');
  });

  afterAll(async () => {
    for (const c of ['source', 'destination'] as const) {
      await world?.kubectl(c, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
      await world?.kubectl(c, ['delete', 'pv', VOLUME, '--wait=false']).catch(() => undefined);
    }
    await world?.stop();
  });

  it('a failing pre-exec Rule fails the migration with the pod and the output', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'ruled-out', { clusterPair: 'remote', namespaces: [NS], preExecRule: 'broken' }),
    );
    const status = (await world.waitForMigration(NS, 'ruled-out'))['status'] as Obj;
    expect(status.status).toBe('Failed');
    expect(status.reason).toMatch(
      /^Error running PreExecRule: pod pgdrill\/postgres-0: command .* exited with 3: disk on fire$/,
    );
  });

  it('migrates, fails over by hand, and the standby answers with the rows written before the migration', async () => {
    await psql(
      'source',
      'CREATE TABLE drill (id int PRIMARY KEY); INSERT INTO drill SELECT generate_series(1, 100);',
    );
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'drill', {
        clusterPair: 'remote',
        namespaces: [NS],
        preExecRule: 'checkpoint',
        postExecRule: 'mark',
      }),
    );
    const status = (await world.waitForMigration(NS, 'drill', 180_000))['status'] as Obj;
    expect(status.reason ?? '').toBe('');
    expect(status.status).toBe('Successful');
    expect(Object.keys(status.summary.elapsedTimePerStage)).toEqual(
      expect.arrayContaining(['PreExecRule', 'Volumes', 'Applications']),
    );
    // Written after the migration: must not be on the standby.
    await psql('source', 'INSERT INTO drill SELECT generate_series(101, 150);');
    expect(await psql('source', 'SELECT count(*) FROM drill')).toBe('150');

    // On the standby: scaled to 0, with the count to restore.
    const sts = (await world.kube.destination.request(
      'GET',
      `/apis/apps/v1/namespaces/${NS}/statefulsets/postgres`,
    )) as Obj;
    expect(sts.spec.replicas).toBe(0);
    expect(sts.metadata.annotations['stork.libopenstorage.org/migrationReplicas']).toBe('1');

    // Activation by hand: promote the restore point to the PV's path, then scale up.
    const pv = (await world.kube.destination.request('GET', `/api/v1/persistentvolumes/${VOLUME}`)) as Obj;
    const dest = world.agents.destination.client();
    const promoted = await dest.promote(VOLUME);
    dest.close();
    expect(promoted.path).toBe(pv.spec.hostPath.path);
    await world.kubectl('destination', ['-n', NS, 'scale', 'statefulset', 'postgres', '--replicas=1']);
    await ready('destination');
    expect(await psql('destination', 'SELECT count(*), max(id) FROM drill')).toBe('100|100');
    expect(harness().env.clusters.destination!.node).toBeDefined();
  });
});
