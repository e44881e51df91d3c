// What operators scrape, on real servers: a Migration and a MigrationSchedule run by the real
// `ferry worker` process through Temporal and the agents; the worker's /metrics then counts the
// migrations by final status with the bytes their statuses report, the schedule's RPO is the age
// of its newest successful migration, and the destination agent's /metrics gives the age of the
// standby volume's restore point.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { prng } from '../agents/trees.js';
import { hostPathClaimYaml, migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';

jest.setTimeout(240_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'metrics';
const VOLUME = 'metrics-data';
const POLICY = `metrics-every-minute-${process.pid}`;

/** The value of one series in a Prometheus text scrape, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async () => (await fetch(`http://${world.worker.http}/metrics`)).text();

beforeAll(async () => {
  world = await startDrWorld('metrics');
  const src = world.agents.source;
  await src.client().createVolume(VOLUME);
  const vol = src.volumePath(VOLUME);
  fs.writeFileSync(path.join(vol, 'table.dat'), prng(3 * 1024 * 1024 + 17, 'metrics'));
  await world.kubectl('source', ['create', 'namespace', NS]);
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    hostPathClaimYaml(NS, { volumePath: vol, pv: `pv-${VOLUME}` }),
  );
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
});

afterAll(async () => {
  await world?.kubectl('source', ['delete', 'schedulepolicy', POLICY, '--ignore-not-found']).catch(() => '');
  await world?.stop();
});

it('counts migrations by final status with the bytes of their statuses', async () => {
  const spec = { clusterPair: 'remote', namespaces: [NS], includeVolumes: true };
  await world.kubectl('source', ['apply', '-f', '-'], migrationYaml(NS, 'first', spec));
  const first = (await world.waitForMigration(NS, 'first')) as Obj;
  expect(first.status.status).toBe('Successful');
  const bytes = first.status.summary.totalBytesMigrated as number;
  expect(bytes).toBeGreaterThanOrEqual(3 * 1024 * 1024);

  // A second one to an unknown ClusterPair fails: counted under Failed, with no bytes.
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    migrationYaml(NS, 'bad', { ...spec, clusterPair: 'nope' }),
  );
  expect(((await world.waitForMigration(NS, 'bad')) as Obj).status.status).toBe('Failed');

  const text = await eventually('both migrations counted', async () => {
    const t = await scrape();
    expect(sample(t, `ferry_migrations_total{namespace="${NS}",schedule="",status="Failed"}`)).toBe(1);
    return t;
  });
  expect(sample(text, `ferry_migrations_total{namespace="${NS}",schedule="",status="Successful"}`)).toBe(1);
  expect(sample(text, `ferry_migration_bytes_total{namespace="${NS}",schedule=""}`)).toBe(bytes);
  expect(sample(text, 'ferry_migration_duration_seconds_count{status="Successful"}')).toBe(1);
  expect(sample(text, 'ferry_migration_duration_seconds_count{status="Failed"}')).toBe(1);
  // One volume transfer, full (the first to this destination), of the migration's bytes.
  const kind = first.status.volumes[0].replicationKind as string;
  expect(sample(text, `ferry_transfer_bytes_per_second_count{kind="${kind}"}`)).toBe(1);
  expect(sample(text, `ferry_transfer_bytes_per_second_sum{kind="${kind}"}`)).toBeGreaterThan(0);

  // The destination agent: the standby volume's restore point is as old as the snapshot it holds.
  const agentText = await world.agents.destination.client().metrics();
  const age = sample(agentText, `ferry_agent_standby_restore_point_age_seconds{volume="${VOLUME}"}`);
  const created = Date.parse(first.metadata.creationTimestamp as string);
  expect(age).toBeGreaterThan(0);
  expect(age).toBeLessThan((Date.now() - created) / 1000 + 2);
});

it("gives each schedule's RPO: the age of its newest successful migration", async () => {
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    `
apiVersion: stork.libopenstorage.org/v1alpha1
kind: SchedulePolicy
metadata: {name: ${POLICY}}
policy: {interval: {intervalMinutes: 60}}
---
apiVersion: stork.libopenstorage.org/v1alpha1
kind: MigrationSchedule
metadata: {name: hourly, namespace: ${NS}}
spec:
  schedulePolicyName: ${POLICY}
  template: {spec: {clusterPair: remote, namespaces: [${NS}], includeVolumes: true}}
`,
  );
  const series = `ferry_schedule_rpo_seconds{namespace="${NS}",schedule="hourly"}`;
  const text = await eventually(
    "the schedule's RPO series",
    async () => {
      const t = await scrape();
      return sample(t, series) === undefined ? undefined : t;
    },
    120_000,
  );
  const schedule = JSON.parse(
    await world.kubectl('source', ['get', 'migrationschedule', '-n', NS, 'hourly', '-o', 'json']),
  ) as Obj;
  const success = (schedule.status.items.Interval as Obj[]).find((i) => i.status === 'Successful')!;
  const expected = (Date.now() - Date.parse(success.creationTimestamp as string)) / 1000;
  const rpo = sample(text, series)!;
  expect(rpo).toBeGreaterThanOrEqual(0);
  expect(rpo).toBeLessThanOrEqual(expected + 1);
  expect(rpo).toBeGreaterThan(expected - 10);
  expect(
    sample(text, `ferry_migrations_total{namespace="${NS}",schedule="hourly",status="Successful"}`),
  ).toBe(1);
  expect(sample(text, `ferry_schedule_skipped_triggers_total{namespace="${NS}",schedule="hourly"}`)).toBe(0);
  // It grows with time while no newer migration succeeds.
  await new Promise((r) => setTimeout(r, 2000));
  expect(sample(await scrape(), series)!).toBeGreaterThanOrEqual(rpo + 1.5);

  await world.kubectl('source', ['delete', 'migrationschedule', '-n', NS, 'hourly', '--wait=true']);
  await eventually('the deleted schedule to lose its RPO series', async () =>
    sample(await scrape(), series) === undefined ? true : undefined,
  );
});
