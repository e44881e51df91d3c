// Failover with `storkctl activate migrations`, on real nodes: PostgreSQL (and a CronJob) migrated
// to the standby, scaled to 0 and suspended; `storkctl activate` run as a user runs it (the built
// CLI, the standby's kubeconfig and agent flags) promotes the volume to the path the migrated PV
// names and starts the app, which answers with the rows written before the migration; a second
// run changes nothing and says so; `deactivate` scales back to 0. A migrated PV whose volume the
// standby's agent never received refuses the activation, naming the PVC, and nothing is scaled.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type ClusterName, type DrWorld } from '../harness/dr-world.js';
import { postgresIn, postgresSampleYaml } from '../harness/postgres.js';
import { repoRoot } from '../../localenv/paths.js';

jest.setTimeout(300_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const describeNodes = process.env.FERRY_TEST_NODES === '0' ? describe.skip : describe;
const NS = 'pgact';
const GHOST_NS = 'pgghost';
const VOLUME = 'pgact-data-0';

let world: DrWorld;
const { ready, psql } = postgresIn(() => world, NS);

/** A CronJob that never comes due (1 January), so resuming it on the standby runs nothing. */
const cronJobYaml = JSON.stringify({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'vacuum', namespace: NS },
  spec: {
    schedule: '0 0 1 1 *',
    jobTemplate: {
      spec: {
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'vacuum',
                image: 'ferry.local/postgres:15',
                imagePullPolicy: 'Never',
                command: ['true'],
              },
            ],
          },
        },
      },
    },
  },
});

/**
 * The built storkctl against `cluster` (default the standby); `agent` passes the standby agent's
 * flags, or the same through FERRY_AGENT_* variables, or nothing. Never rejects.
 */
function storkctl(
  args: string[],
  opts: { agent?: 'flags' | 'env' | 'none'; cluster?: ClusterName } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const agent = world.agents.destination;
  const how = opts.agent ?? 'flags';
  const argv = [
    path.join(repoRoot(), 'dist', 'workers', 'storkctl.js'),
    ...args,
    '--kubeconfig',
    world.kubeconfig(opts.cluster ?? 'destination'),
    ...(how === 'flags'
      ? ['--agent-url', agent.url, '--agent-token-file', agent.tokenFile, '--agent-ca-file', agent.caCertPath]
      : []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['FERRY_AGENT_URL'];
  delete env['FERRY_AGENT_TOKEN_FILE'];
  delete env['FERRY_AGENT_CA_FILE'];
  if (how === 'env')
    Object.assign(env, {
      FERRY_AGENT_URL: agent.url,
      FERRY_AGENT_TOKEN_FILE: agent.tokenFile,
      FERRY_AGENT_CA_FILE: agent.caCertPath,
    });
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { timeout: 120_000, env }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

const replicas = async (ns: string, kind: string, name: string) =>
  ((await world.kube.destination.request('GET', `/apis/apps/v1/namespaces/${ns}/${kind}/${name}`)) as Obj)
    .spec.replicas as number;

describeNodes('storkctl activate / deactivate migrations', () => {
  beforeAll(async () => {
    world = await startDrWorld('activate');
    const source = world.agents.source;
    const client = source.client();
    await client.createVolume(VOLUME);
    client.close();
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      await postgresSampleYaml(NS, VOLUME, path.join(source.dataRoot, 'volumes')),
    );
    await world.kubectl('source', ['apply', '-f', '-'], cronJobYaml);
    await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'Rule',
        metadata: { name: 'checkpoint', namespace: NS },
        rules: [
          {
            podSelector: { app: 'postgres' },
            actions: [{ type: 'command', value: 'psql -h /tmp -U postgres -c CHECKPOINT' }],
          },
        ],
      }),
    );
    await ready('source');
  });

  afterAll(async () => {
    for (const c of ['source', 'destination'] as const) {
      for (const ns of [NS, GHOST_NS])
        await world?.kubectl(c, ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
      for (const pv of [VOLUME, 'ghost-pv'])
        await world?.kubectl(c, ['delete', 'pv', pv, '--wait=false']).catch(() => undefined);
    }
    await world?.stop();
  });

  it('activate promotes the volume and starts the app; again changes nothing; deactivate stops it', async () => {
    await psql(
      'source',
      'CREATE TABLE drill (id int PRIMARY KEY); INSERT INTO drill SELECT generate_series(1, 100);',
    );
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'm1', { clusterPair: 'remote', namespaces: [NS], preExecRule: 'checkpoint' }),
    );
    const status = (await world.waitForMigration(NS, 'm1', 180_000))['status'] as Obj;
    expect(status.reason ?? '').toBe('');
    expect(status.status).toBe('Successful');
    await psql('source', 'INSERT INTO drill SELECT generate_series(101, 150);');
    expect(await replicas(NS, 'statefulsets', 'postgres')).toBe(0);

    // storkctl's tables of the source's migration and cluster pair.
    const got = await storkctl(['get', 'migrations', '-n', NS], { cluster: 'source', agent: 'none' });
    expect(got.code).toBe(0);
    const [header, row, ...rest] = lines(got.stdout).map((l) => l.trimEnd().split(/ {3,}/));
    expect(header).toEqual([
      'NAME',
      'CLUSTERPAIR',
      'STAGE',
      'STATUS',
      'VOLUMES',
      'RESOURCES',
      'CREATED',
      'ELAPSED',
      'TOTAL BYTES TRANSFERRED',
    ]);
    expect(rest).toEqual([]);
    const s = status.summary as Obj;
    expect(row).toEqual([
      'm1',
      'remote',
      'Final',
      'Successful',
      '1/1',
      `${s.numOfMigratedResources}/${s.totalNumberOfResources}`,
      expect.stringMatching(/^\d\d [A-Z][a-z]{2} \d\d \d\d:\d\d UTC$/),
      `Volumes (${s.elapsedTimeForVolumeMigration}) Resources (${s.elapsedTimeForResourceMigration})`,
      String(s.totalBytesMigrated),
    ]);
    expect(Number(s.totalBytesMigrated)).toBeGreaterThan(0);
    const all = await storkctl(['get', 'migrations', '-A'], { cluster: 'source', agent: 'none' });
    expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE +NAME +CLUSTERPAIR /);
    expect(lines(all.stdout).some((l) => l.startsWith(`${NS} `) && l.includes(' m1 '))).toBe(true);
    const pair = await storkctl(['get', 'clusterpair', '-n', NS], { cluster: 'source', agent: 'none' });
    expect(lines(pair.stdout).map((l) => l.trimEnd().split(/ {3,}/))).toEqual([
      ['NAME', 'STORAGE-STATUS', 'SCHEDULER-STATUS', 'CREATED'],
      ['remote', 'Ready', 'Ready', expect.stringMatching(/ UTC$/)],
    ]);

    const pv = (await world.kube.destination.request('GET', `/api/v1/persistentvolumes/${VOLUME}`)) as Obj;
    const path_ = pv.spec.hostPath.path as string;
    expect(path_).toBe(path.join(world.agents.destination.dataRoot, 'volumes', VOLUME));
    const dest = world.agents.destination.client();
    const restorePoint = (await dest.getStandby(VOLUME)).current;
    dest.close();
    expect(restorePoint).toBeTruthy();

    // A schedule on the standby that feeds the namespace (as a failback schedule would).
    await world.kubectl(
      'destination',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'MigrationSchedule',
        metadata: { name: 'back', namespace: NS },
        spec: {
          schedulePolicyName: 'absent',
          suspend: true,
          template: { spec: { clusterPair: 'home', namespaces: [NS] } },
        },
      }),
    );

    const first = await storkctl(['activate', 'migrations', '-n', NS]);
    expect(first.stderr).toBe('');
    expect(lines(first.stdout)).toEqual([
      `Promoted volume ${VOLUME} (restore point ${restorePoint}) to ${path_} for pvc ${NS}/data-postgres-0`,
      `Updated replicas for statefulset ${NS}/postgres to 1`,
      `Updated suspend option for cronjob ${NS}/vacuum to false`,
      `Updated application activated for migrationschedule ${NS}/back to true`,
    ]);
    expect(first.code).toBe(0);
    await ready('destination');
    expect(await psql('destination', 'SELECT count(*), max(id) FROM drill')).toBe('100|100');
    const cron = (await world.kube.destination.request(
      'GET',
      `/apis/batch/v1/namespaces/${NS}/cronjobs/vacuum`,
    )) as Obj;
    expect(cron.spec.suspend).toBe(false);

    const again = await storkctl(['activate', 'migrations', '-n', NS]);
    expect(again.code).toBe(0);
    expect(lines(again.stdout)).toEqual([
      `Volume ${VOLUME} for pvc ${NS}/data-postgres-0 already promoted at ${path_}`,
      `Replicas for statefulset ${NS}/postgres already 1`,
      `Suspend option for cronjob ${NS}/vacuum already false`,
      `Application activated for migrationschedule ${NS}/back already true`,
    ]);
    // The promoted volume is the live one: what the app wrote there survives a second activate.
    await psql('destination', 'INSERT INTO drill VALUES (1000);');
    expect(await psql('destination', 'SELECT count(*) FROM drill')).toBe('101');

    const off = await storkctl(['deactivate', 'migrations', '-n', NS]);
    expect(off.code).toBe(0);
    expect(lines(off.stdout)).toEqual([
      `Updated replicas for statefulset ${NS}/postgres to 0`,
      `Updated suspend option for cronjob ${NS}/vacuum to true`,
      `Updated application activated for migrationschedule ${NS}/back to false`,
    ]);
    expect(await replicas(NS, 'statefulsets', 'postgres')).toBe(0);
    const offAgain = await storkctl(['deactivate', 'migrations', '-n', NS]);
    expect(lines(offAgain.stdout)).toEqual([
      `Replicas for statefulset ${NS}/postgres already 0`,
      `Suspend option for cronjob ${NS}/vacuum already true`,
      `Application activated for migrationschedule ${NS}/back already false`,
    ]);
  });

  it('refuses when a migrated volume has no restore point on the standby, changing nothing', async () => {
    // What a migration leaves on the standby for a claim whose data never arrived there: a PV
    // annotated as migrated naming a volume of the standby's agent that the agent does not hold.
    const ghostPath = path.join(world.agents.destination.dataRoot, 'volumes', 'ghost-data');
    const migrated = { 'stork.libopenstorage.org/migrated': 'true' };
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GHOST_NS } },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: 'ghost-pv', annotations: migrated },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: 'manual',
          hostPath: { path: ghostPath },
          claimRef: { namespace: GHOST_NS, name: 'data' },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', namespace: GHOST_NS, annotations: migrated },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'manual',
          volumeName: 'ghost-pv',
          resources: { requests: { storage: '1Gi' } },
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: 'app',
          namespace: GHOST_NS,
          annotations: { ...migrated, 'stork.libopenstorage.org/migrationReplicas': '2' },
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'ghost' } },
          template: {
            metadata: { labels: { app: 'ghost' } },
            spec: {
              containers: [
                {
                  name: 'app',
                  image: 'ferry.local/postgres:15',
                  imagePullPolicy: 'Never',
                  command: ['sleep', '3600'],
                },
              ],
            },
          },
        },
      },
    ];
    await world.kubectl(
      'destination',
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
    );

    const r = await storkctl(['activate', 'migrations', '-n', GHOST_NS], { agent: 'env' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([
      `error: pvc ${GHOST_NS}/data: volume ghost-data has no restore point on the standby's agent (never migrated there?)`,
      'error: nothing was activated: every migrated volume needs a restore point first',
    ]);
    expect(await replicas(GHOST_NS, 'deployments', 'app')).toBe(0);

    // Without an agent, volumes are skipped with a warning and the apps are scaled all the same.
    const blind = await storkctl(['activate', 'migrations', '-n', GHOST_NS], { agent: 'none' });
    expect(blind.code).toBe(0);
    expect(lines(blind.stderr)).toEqual([
      `Warning: pvc ${GHOST_NS}/data: volume of pv ghost-pv not promoted: no agent given (--agent-url or FERRY_AGENT_URL)`,
    ]);
    expect(lines(blind.stdout)).toEqual([`Updated replicas for deployment ${GHOST_NS}/app to 2`]);
    expect(await replicas(GHOST_NS, 'deployments', 'app')).toBe(2);
    const off = await storkctl(['deactivate', 'migrations', '-a'], { agent: 'none' });
    expect(off.code).toBe(0);
    expect(lines(off.stdout)).toContain(`Updated replicas for deployment ${GHOST_NS}/app to 0`);
    expect(await replicas(GHOST_NS, 'deployments', 'app')).toBe(0);
  });
});
