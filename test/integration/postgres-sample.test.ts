import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { applyFile } from '../../localenv/apply.js';
import { repoRoot } from '../../localenv/paths.js';
import { postgresOn } from '../../localenv/postgres.js';
import { harness } from '../harness/context.js';

// deploy/samples/postgres.yaml on the source cluster's node: the StatefulSet's claim binds to the
// sample's hostPath PV, PostgreSQL (built from Debian's packages) starts and becomes Ready, takes a
// write through psql, and its data directory is on the host under the chosen directory.

const describeNodes = process.env.FERRY_TEST_NODES === '0' ? describe.skip : describe;

describeNodes('PostgreSQL StatefulSet sample (deploy/samples/postgres.yaml)', () => {
  it('runs on the node with its data in a hostPath PV under the given directory', async () => {
    const { env } = harness();
    const cluster = env.clusters.source!;
    const volumes = path.join(env.dir, 'volumes', 'source');
    const sample = await readFile(path.join(repoRoot(), 'deploy', 'samples', 'postgres.yaml'), 'utf8');
    const file = path.join(env.dir, 'postgres-sample.yaml');
    await writeFile(file, sample.replaceAll('/var/lib/ferry/volumes', volumes));
    expect(await applyFile(cluster.kubeconfigPath, file)).toEqual([
      'Namespace/postgres',
      'PersistentVolume/postgres-data-0',
      'ConfigMap/postgres-config',
      'Secret/postgres-credentials',
      'Rule/postgres-checkpoint',
      'Service/postgres',
      'StatefulSet/postgres',
    ]);

    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const pod = await core
        .readNamespacedPod({ name: 'postgres-0', namespace: 'postgres' })
        .catch(() => undefined);
      if (pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
      if (Date.now() > deadline) {
        throw new Error(`postgres-0 not Ready in 90 s: ${JSON.stringify(pod?.status ?? 'no pod')}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const claim = await core.readNamespacedPersistentVolumeClaim({
      name: 'data-postgres-0',
      namespace: 'postgres',
    });
    expect(claim.spec?.volumeName).toBe('postgres-data-0');

    const pg = postgresOn(env.bins.kubectl!, cluster.kubeconfigPath, 'postgres');
    const psql = pg.sql;
    await psql('CREATE TABLE ferry_check (answer int); INSERT INTO ferry_check VALUES (42);');
    expect(await psql('SELECT answer FROM ferry_check')).toBe('42');
    expect(
      (await readFile(path.join(volumes, 'postgres-data-0', 'pgdata', 'PG_VERSION'), 'utf8')).trim(),
    ).toMatch(/^\d+$/);
    // The writer beside it inserts a row a second.
    const count = async () => Number(await psql('SELECT count(*) FROM orders').catch(() => '0'));
    const first = await count();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await count()).toBeGreaterThan(first);
  }, 120_000);

  afterAll(async () => {
    // Stop PostgreSQL: the rest of the suite runs on the same two cores.
    const kc = new KubeConfig();
    kc.loadFromFile(harness().env.clusters.source!.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.deleteNamespace({ name: 'postgres', gracePeriodSeconds: 0 }).catch(() => {});
    await core.deletePersistentVolume({ name: 'postgres-data-0' }).catch(() => {});
  });
});
