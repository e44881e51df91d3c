// The schedule and migration verbs of the CLI as a user runs them (the built `storkctl` / `ferry`
// binaries, as child processes: their stdout, stderr and exit code), and the SDK (FerryClient and
// its runnable example), against the run's real Temporal dev server, two real clusters and a real
// `ferry worker`: get/describe/suspend/resume migrationschedule, trigger, watch migration,
// get -w.
import { jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { prng } from '../agents/trees.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';
import { FerryClient } from '../../client/sdk.js';
import { rfc822 } from '../../client/cli/columns.js';

jest.setTimeout(240_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'clisched';
const POLICY = `hourly-${process.pid}`;
const VOLUME = 'clisched-data';
const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
let world: DrWorld;
let ferry: FerryClient;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** Polls an assertion until it holds. */
const until = (what: string, check: () => unknown, timeoutMs = 30_000) =>
  eventually(
    what,
    async () => {
      await check();
      return true;
    },
    timeoutMs,
  );

/** Runs a built binary (storkctl, ferry, or a path under dist/) with the world's Temporal and source kubeconfig. */
function cli(program: string, ...args: string[]): Promise<Run> {
  const file = program.includes('/') ? program : `workers/${program}.js`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'dist', file), ...args],
      { env, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const schedule = async (): Promise<Obj> =>
  (await world.kube.source.request(
    'GET',
    `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/migrationschedules/appsched`,
  )) as Obj;

const manifests = `
apiVersion: stork.libopenstorage.org/v1alpha1
kind: SchedulePolicy
metadata: {name: ${POLICY}}
policy:
  interval: {intervalMinutes: 60}
---
apiVersion: stork.libopenstorage.org/v1alpha1
kind: MigrationSchedule
metadata: {name: appsched, namespace: ${NS}}
spec:
  template:
    spec:
      clusterPair: remote
      namespaces: [${NS}]
  schedulePolicyName: ${POLICY}
`;

let firstMigration = '';

beforeAll(async () => {
  world = await startDrWorld('cli');
  const { env: h } = harness();
  env = {
    ...process.env,
    KUBECONFIG: world.kubeconfig('source'),
    TEMPORAL_ADDRESS: h.temporal.address,
    TEMPORAL_NAMESPACE: h.temporal.namespace,
    FERRY_TASK_QUEUE: world.taskQueue,
  };
  ferry = await FerryClient.connect({
    address: h.temporal.address,
    namespace: h.temporal.namespace,
    taskQueue: world.taskQueue,
  });
  const src = world.agents.source;
  await src.client().createVolume(VOLUME);
  fs.writeFileSync(path.join(src.volumePath(VOLUME), 'table.dat'), prng(32 * 1024 * 1024, 'cli'));
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${NS}}
data: {a: b}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-${VOLUME}}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: ${src.volumePath(VOLUME)}}
  claimRef: {namespace: ${NS}, name: data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: ${NS}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  volumeName: pv-${VOLUME}
  resources: {requests: {storage: 1Gi}}
`,
  );
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
  await world.kubectl('source', ['apply', '-f', '-'], manifests);
  // The interval policy fires at once; wait for that migration to succeed.
  const ok = await eventually(
    'the first scheduled migration succeeds',
    async () =>
      ((await schedule()).status?.items?.Interval as Obj[] | undefined)?.find(
        (i) => i.status === 'Successful',
      ),
    120_000,
  );
  firstMigration = ok.name;
});

afterAll(async () => {
  await world
    ?.kubectl('source', ['delete', 'migrationschedule', '-n', NS, 'appsched', '--ignore-not-found'])
    .catch(() => '');
  await world?.kubectl('source', ['delete', 'schedulepolicy', POLICY, '--ignore-not-found']).catch(() => '');
  await ferry?.close();
  await world?.stop();
});

describe('storkctl get migrationschedules', () => {
  it("prints Stork's columns, the last success from the status", async () => {
    const r = await cli('storkctl', 'get', 'migrationschedules', '-n', NS);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [header, row, ...rest] = lines(r.stdout);
    expect(rest).toEqual([]);
    expect(header!.split(/\s{3,}/)).toEqual([
      'NAME',
      'POLICYNAME',
      'CLUSTERPAIR',
      'SUSPEND',
      'LAST-SUCCESS-TIME',
      'LAST-SUCCESS-DURATION',
    ]);
    const item = ((await schedule()).status.items.Interval as Obj[]).find((i) => i.name === firstMigration)!;
    const cells = row!.split(/\s{3,}/);
    expect(cells.slice(0, 4)).toEqual(['appsched', POLICY, 'remote', 'false']);
    expect(cells[4]).toBe(rfc822(item.finishTimestamp));
    expect(cells[5]).toMatch(/^(\d+m)?\d+(\.\d+)?s$/);
  });

  it('-o wide adds RPO and the next trigger the workflow answers', async () => {
    const r = await cli('storkctl', 'get', 'migrationschedule', 'appsched', '-n', NS, '-o', 'wide');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [header, row] = lines(r.stdout);
    expect(header).toMatch(/LAST-SUCCESS-DURATION\s{3,}RPO\s{3,}NEXT-TRIGGER$/);
    const cells = row!.split(/\s{3,}/);
    const status = await ferry.scheduleStatus(NS, 'appsched');
    expect(cells[6]).toMatch(/^\d+[sm]$/);
    expect(cells[7]).toBe(rfc822(status.nextTrigger));
  });

  it('-c filters by ClusterPair; -o json prints the object; -A adds NAMESPACE', async () => {
    const none = await cli('storkctl', 'get', 'migrationschedules', '-n', NS, '-c', 'elsewhere');
    expect(none).toEqual({ code: 0, stdout: '', stderr: `No resources found in ${NS} namespace.\n` });
    const json = await cli('storkctl', 'get', 'migrationschedules', '-n', NS, '-c', 'remote', '-o', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      kind: 'MigrationSchedule',
      metadata: { name: 'appsched' },
    });
    const all = await cli('storkctl', 'get', 'migrationschedules', '-A');
    expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE\s{3,}NAME\s{3,}POLICYNAME/);
    expect(all.stdout).toMatch(new RegExp(`^${NS}\\s{3,}appsched\\s{3,}`, 'm'));
  });
});

describe('storkctl describe', () => {
  it('migrationschedule: metadata, spec, status items, the workflow, Events', async () => {
    const r = await cli('storkctl', 'describe', 'migrationschedule', 'appsched', '-n', NS);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = r.stdout;
    expect(out).toMatch(/^Name:\s+appsched$/m);
    expect(out).toMatch(new RegExp(`^Namespace:\\s+${NS}$`, 'm'));
    expect(out).toMatch(/^Kind:\s+MigrationSchedule$/m);
    expect(out).toMatch(new RegExp(`^  Schedule Policy Name:\\s+${POLICY}$`, 'm'));
    expect(out).toMatch(/^ {6}Cluster Pair:\s+remote$/m);
    expect(out).toMatch(/^ {2}Items:\n {4}Daily:\s+<none>\n {4}Interval:\n {6}Creation Timestamp:/m);
    expect(out).toMatch(new RegExp(`^      Name:\\s+${firstMigration}$`, 'm'));
    expect(out).toMatch(/^ {2}Next Trigger:\s+\d{4}-\d{2}-\d{2}T/m);
    expect(out).toMatch(/^Events:\n {2}Type\s+Reason\s+Age\s+From\s+Message\n {2}----/m);
    expect(out).toContain(`Scheduled migration (${firstMigration}) completed successfully`);
  });

  it("schedule counts: its first migration's volume transfer was full (the pair's default mode)", async () => {
    // The schedule records a child's volumes when it learns of its end, a moment after the CR.
    const counts = await eventually('the first migration counted', async () => {
      const c = (await ferry.scheduleStatus(NS, 'appsched')).counts;
      return (c.fullTransfers ?? 0) >= 1 ? c : undefined;
    });
    // One volume, migrated by every migration of the schedule so far: the first full, later
    // ones incremental (every 7th full again).
    expect(counts.fullTransfers! + (counts.incrementalTransfers ?? 0)).toBe(counts.succeeded);
    const r = await cli('storkctl', 'describe', 'migrationschedule', 'appsched', '-n', NS);
    expect(r.stdout).toMatch(/^ +Full Transfers:\s+[1-9]\d*$/m);
  });

  it('migration: stages, volumes with bytes, resource counts, Events', async () => {
    const r = await cli('storkctl', 'describe', 'migration', firstMigration, '-n', NS);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^ {2}Stage:\s+Final$/m);
    expect(r.stdout).toMatch(/^ {4}Persistent Volume Claim:\s+data$/m);
    expect(r.stdout).toMatch(/^ {4}Bytes Total:\s+\d+$/m);
    expect(r.stdout).toMatch(/^ {4}Successful:\s+\d+ \(.*ConfigMap 1.*\)$/m);
    expect(r.stdout).toMatch(/^ {4}Elapsed Time Per Stage:\n {6}Applications:.*\n {6}Volumes:/m);
    expect(r.stdout).toContain('Volume data migrated successfully');
  });

  it('a missing object is exit 1 naming it', async () => {
    const r = await cli('storkctl', 'describe', 'migration', 'nope', '-n', NS);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): migrations.stork.libopenstorage.org "nope" not found\n',
    });
  });
});

describe('ferry trigger, watch migration, get -w', () => {
  it('trigger prints the new migration; watch follows it to "completed successfully" (exit 0)', async () => {
    const watching = spawn(
      process.execPath,
      [path.join(ROOT, 'dist/workers/storkctl.js'), 'get', 'migrations', '-n', NS, '-w'],
      { env },
    );
    let watched = '';
    watching.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    try {
      await until('get -w prints the table', () => expect(watched).toMatch(/^NAME\s{3,}CLUSTERPAIR/));
      const t = await cli('ferry', 'trigger', 'migrationschedule', 'appsched', '-n', NS);
      expect(t.stderr).toBe('');
      expect(t.code).toBe(0);
      const name = t.stdout.trim();
      expect(name).toMatch(/^appsched-interval-\d{4}-\d{2}-\d{2}-\d{6}$/);

      // While it runs, another trigger is refused with the reason.
      const again = await cli('ferry', 'trigger', 'migrationschedule', 'appsched', '-n', NS);
      if (again.code === 1)
        expect(again.stderr).toBe(
          `error: trigger migrationschedule ${NS}/appsched: migration ${name} is still running\n`,
        );
      else expect(again.stdout.trim()).toMatch(/^appsched-interval-/); // the first had already ended

      const w = await cli('ferry', 'watch', 'migration', name, '-n', NS, '--interval', '0.3');
      expect(w.stderr).toBe('');
      expect(w.code).toBe(0);
      const out = lines(w.stdout);
      expect(out[out.length - 1]).toBe(`Migration ${name} completed successfully`);
      expect(out).toContain(`Migration ${name}: stage Final, status Successful`);
      expect(
        out.some((l) => new RegExp(`^Volume ${NS}/data \\(${VOLUME}\\): Successful, \\d+ bytes$`).test(l)),
      ).toBe(true);

      // get -w printed a row for the new migration, and one once it ended Successful.
      await until('get -w prints its final row', () =>
        expect(watched).toMatch(
          new RegExp(`^${name}\\s{3,}remote\\s{3,}Final\\s{3,}Successful\\s{3,}1/1`, 'm'),
        ),
      );
    } finally {
      watching.kill('SIGTERM');
    }
  });

  it('watch of a failing migration ends "failed" with the reason (exit 1)', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      `{"apiVersion":"stork.libopenstorage.org/v1alpha1","kind":"Migration","metadata":{"name":"nopair","namespace":"${NS}"},"spec":{"clusterPair":"missing","namespaces":["${NS}"]}}`,
    );
    const w = await cli('storkctl', 'watch', 'migration', 'nopair', '-n', NS);
    expect(w.code).toBe(1);
    expect(lines(w.stdout).pop()).toBe('Migration nopair failed');
    expect(w.stderr).toMatch(/^reason: .*missing/);
  });

  it('trigger refusals and usage errors exit 1 with the reason', async () => {
    const missing = await cli('ferry', 'trigger', 'migrationschedule', 'nope', '-n', NS);
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: trigger migrationschedule ${NS}/nope: workflow migrationschedule/${NS}/nope not found\n`,
    });
    const badType = await cli('ferry', 'trigger', 'migrationschedule', 'appsched', '--type', 'hourly');
    expect(badType.code).toBe(1);
    expect(lines(badType.stderr)).toEqual([
      'error: invalid value "hourly" for --type: must be one of interval, daily, weekly, monthly',
      "Run 'ferry trigger --help' for usage.",
    ]);
  });
});

describe('storkctl suspend / resume migrationschedules', () => {
  it('sets spec.suspend, the workflow hears of it, and resume undoes it', async () => {
    const s = await cli('storkctl', 'suspend', 'migrationschedules', 'appsched', '-n', NS);
    expect(s).toEqual({ code: 0, stdout: 'MigrationSchedule appsched suspended successfully\n', stderr: '' });
    expect((await schedule()).spec.suspend).toBe(true);
    const got = await cli('storkctl', 'get', 'migrationschedules', '-n', NS);
    expect(lines(got.stdout)[1]!.split(/\s{3,}/)[3]).toBe('true');
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'appsched')).spec?.suspend).toBe(true),
    );

    const r = await cli('storkctl', 'resume', 'migrationschedule', 'appsched', '-n', NS);
    expect(r).toEqual({ code: 0, stdout: 'MigrationSchedule appsched resumed successfully\n', stderr: '' });
    expect((await schedule()).spec.suspend).toBe(false);
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'appsched')).spec?.suspend).toBe(false),
    );
  });

  it('a missing schedule is named, the others still change, exit 1', async () => {
    const r = await cli('storkctl', 'suspend', 'migrationschedules', 'nope', 'appsched', '-n', NS);
    expect(r).toEqual({
      code: 1,
      stdout: 'MigrationSchedule appsched suspended successfully\n',
      stderr: `error: migrationschedule nope not found in namespace ${NS}\n`,
    });
    await cli('storkctl', 'resume', 'migrationschedules', 'appsched', '-n', NS);
  });
});

describe('FerryClient (SDK)', () => {
  it('the runnable example starts a migration without a CR and follows it to Successful', async () => {
    const r = await cli('client/examples/migrate-and-follow.js', NS, 'from-sdk', 'remote', 'appsched');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe(`started migration/${NS}/from-sdk`);
    expect(out).toContain('Final Successful');
    expect(out).toContainEqual(expect.stringMatching(/^final Successful: 1 volumes, \d+ bytes$/));
    expect(out[out.length - 1]).toMatch(/^schedule appsched: next trigger \d{4}-.*, \d+ succeeded$/);
    const cr = await world.kubectl('source', ['get', 'migration', '-n', NS, 'from-sdk', '-o', 'json']);
    expect(JSON.parse(cr).status.status).toBe('Successful');
  });

  it('a CR-less schedule: create, suspend/resume signals, spec updates (a bad one refused), status', async () => {
    await ferry.createSchedule(NS, 'sdk-sched', {
      template: { spec: { clusterPair: 'remote', namespaces: [NS] } },
      schedulePolicyName: POLICY,
      suspend: true,
    } as never);
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'sdk-sched')).spec?.schedulePolicyName).toBe(POLICY),
    );
    await ferry.suspendSchedule(NS, 'sdk-sched');
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'sdk-sched')).suspended).toBe(true),
    );
    await ferry.resumeSchedule(NS, 'sdk-sched');
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'sdk-sched')).suspended).toBe(false),
    );
    await expect(
      ferry.updateScheduleSpec(NS, 'sdk-sched', {
        template: { spec: { clusterPair: 'remote', namespaces: [NS] } },
        schedulePolicyName: POLICY,
        suspend: 'yes',
      } as never),
    ).rejects.toThrow(/spec\.suspend/);
    await ferry.updateScheduleSpec(NS, 'sdk-sched', {
      template: { spec: { clusterPair: 'remote', namespaces: [NS] } },
      schedulePolicyName: POLICY,
      suspend: false,
    } as never);
    await until('the workflow answers', async () =>
      expect((await ferry.scheduleStatus(NS, 'sdk-sched')).spec?.suspend).toBe(false),
    );
    await ferry.temporal.workflow.getHandle(`migrationschedule/${NS}/sdk-sched`).cancel();
  });

  it('cancelMigration stops a running migration: it ends Failed, reason cancelled', async () => {
    await ferry.startMigration(NS, 'to-cancel', { clusterPair: 'remote', namespaces: [NS] });
    await ferry.cancelMigration(NS, 'to-cancel');
    const final = await ferry.waitForMigration(NS, 'to-cancel');
    expect(final).toMatchObject({ stage: 'Final', status: 'Failed', reason: 'cancelled' });
    await expect(ferry.migrationStatus(NS, 'never-started')).rejects.toThrow(
      `workflow migration/${NS}/never-started not found`,
    );
  });
});
