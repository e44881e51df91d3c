// MigrationSchedule end to end on real servers: `kubectl apply` of a SchedulePolicy (every
// minute) and a MigrationSchedule in a namespace with a ClusterPair; Ferry's worker (a real
// process, with its controllers) runs the schedule's workflow on the dev server, which starts
// interval Migrations; the schedule's status lists them; deleting the schedule deletes them.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import type { ScheduleStatusView } from '../../workflows/migration-schedule.js';
import { harness } from '../harness/context.js';
import { eventually } from '../harness/eventually.js';
import { recordHistory } from '../harness/histories.js';
import { everyMinuteScheduleYaml } from '../fixtures/apps/every-minute-schedule.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(240_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'sched';
const POLICY = `every-minute-${process.pid}`;

const manifests = everyMinuteScheduleYaml(NS, 'appsched', POLICY);

const migrations = async (): Promise<Obj[]> =>
  (JSON.parse(await world.kubectl('source', ['get', 'migrations', '-n', NS, '-o', 'json'])) as Obj).items;

beforeAll(async () => {
  world = await startDrWorld('schedule');
  await world.kubectl('source', ['create', 'namespace', NS]);
  await world.kubectl('source', ['create', 'configmap', '-n', NS, 'settings', '--from-literal=a=b']);
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
});

afterAll(async () => {
  await world?.kubectl('source', ['delete', 'schedulepolicy', POLICY, '--ignore-not-found']).catch(() => '');
  await world?.stop();
});

it('kubectl apply of a SchedulePolicy and a MigrationSchedule runs interval Migrations; delete removes them', async () => {
  const t0 = Date.now();
  await world.kubectl('source', ['apply', '-f', '-'], manifests);

  // The first interval trigger fires at once, the next one a minute later; each Migration CR is
  // created by the schedule's child workflow.
  const successful = new Map<string, Obj>();
  const deadline = Date.now() + 150_000;
  let firstMs = 0;
  while (successful.size < 2 && Date.now() < deadline) {
    for (const m of await migrations()) {
      if (!/^appsched-interval-\d{4}-\d{2}-\d{2}-\d{6}$/.test(m.metadata.name)) continue;
      expect(m.metadata.annotations['stork.libopenstorage.org/migration-schedule-name']).toBe('appsched');
      if (m.status?.status === 'Successful' && !successful.has(m.metadata.name)) {
        successful.set(m.metadata.name, m);
        if (successful.size === 1) firstMs = Date.now() - t0;
      }
    }
    if (successful.size < 2) await new Promise((r) => setTimeout(r, 1000));
  }
  const names = [...successful.keys()].sort();
  expect(names).toHaveLength(2);
  const stampMs = (n: string) => {
    const m = /(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(n)!;
    return Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
  };
  expect(stampMs(names[1]!) - stampMs(names[0]!)).toBe(60_000);
  const name = names[1]!;
  process.stderr.write(
    `[schedule] first scheduled Migration Successful ${firstMs} ms after apply, second ${Date.now() - t0} ms: ${names.join(', ')}\n`,
  );

  // The schedule's status mirrors it (written after the child's completion).
  let schedule: Obj = {};
  while (Date.now() < deadline) {
    schedule = JSON.parse(
      await world.kubectl('source', ['get', 'migrationschedule', 'appsched', '-n', NS, '-o', 'json']),
    ) as Obj;
    const items = (schedule.status?.items?.Interval ?? []) as Obj[];
    if (items.some((i) => i.name === name && i.status === 'Successful')) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  expect(schedule.status.items.Interval).toEqual(
    expect.arrayContaining([expect.objectContaining({ name, status: 'Successful' })]),
  );
  expect(schedule.metadata.finalizers).toContain('stork.libopenstorage.org/ferry-workflow');
  const events = await world.kubectl('source', [
    'get',
    'events',
    '-n',
    NS,
    '--field-selector',
    'involvedObject.kind=MigrationSchedule,involvedObject.name=appsched',
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
  expect(events).toContain(`Scheduled migration (${name}) completed successfully`);
  const wf = await world.temporal.workflow.getHandle(`migrationschedule/${NS}/appsched`).describe();
  expect(wf.status.name).toBe('RUNNING');

  // Delete: the workflow ends, every Migration of the schedule goes.
  await world.kubectl('source', ['delete', 'migrationschedule', 'appsched', '-n', NS, '--timeout=60s']);
  let left = await migrations();
  for (let i = 0; i < 60 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    left = await migrations();
  }
  expect(left.map((m) => m.metadata.name)).toEqual([]);
  const after = await world.temporal.workflow.getHandle(`migrationschedule/${NS}/appsched`).describe();
  expect(after.status.name).toBe('CANCELLED');
  await recordHistory(
    harness().env.temporal.address,
    `migrationschedule/${NS}/appsched`,
    'schedule-dev-server',
  );
  await recordHistory(harness().env.temporal.address, `migration/${NS}/${name}`, 'migration-dev-server');
});

it('a schedule without a CR, started with the temporal CLI as the README shows', async () => {
  const { env } = harness();
  const temporal = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        env.bins.temporal!,
        [...args, '--address', env.temporal.address, '--namespace', env.temporal.namespace],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`temporal ${args[1]}: ${stderr}`)) : resolve(stdout),
      ),
    );
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    `
apiVersion: stork.libopenstorage.org/v1alpha1
kind: NamespacedSchedulePolicy
metadata:
  name: hourly
  namespace: ${NS}
policy:
  interval:
    intervalMinutes: 60
`,
  );
  const id = `migrationschedule/${NS}/cli-sched`;
  const input = {
    namespace: NS,
    name: 'cli-sched',
    spec: { template: { spec: { clusterPair: 'remote', namespaces: [NS] } }, schedulePolicyName: 'hourly' },
  };
  // The README's command, with this world's task queue.
  await temporal([
    'workflow',
    'start',
    '--type',
    'migrationScheduleWorkflow',
    '--task-queue',
    world.taskQueue,
    '--workflow-id',
    id,
    '--input',
    JSON.stringify(input),
  ]);
  const successful = async (prefix: string, count: number) => {
    const deadline = Date.now() + 60_000;
    let names: string[] = [];
    while (Date.now() < deadline) {
      names = (await migrations())
        .filter((m) => m.metadata.name.startsWith(prefix) && m.status?.status === 'Successful')
        .map((m) => m.metadata.name as string);
      if (names.length >= count) return names;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${count} Successful ${prefix}* Migrations expected, got ${names.join(', ')}`);
  };
  const [first] = await successful('cli-sched-interval-', 1);
  // The CR says Successful before the schedule has recorded the child's completion; triggerNow
  // is rejected while a migration runs, so wait until the schedule knows.
  await eventually('the schedule recorded its first migration', async () => {
    const status = await world.temporal.workflow.getHandle(id).query<ScheduleStatusView>('status');
    return status.running.length === 0 ? true : undefined;
  });
  const out = await temporal([
    'workflow',
    'update',
    'execute',
    '-w',
    id,
    '--name',
    'triggerNow',
    '--input',
    '{}',
  ]);
  const triggered = /cli-sched-interval-\d{4}-\d{2}-\d{2}-\d{6}/.exec(out)?.[0];
  expect(triggered).toBeDefined();
  expect(triggered).not.toBe(first);
  const both = await successful('cli-sched-interval-', 2);
  expect(both).toEqual(expect.arrayContaining([first, triggered]));

  // Search attributes: the README's query finds the schedule's migrations, and the schedule
  // itself carries its pair, policy type and namespace.
  const listIds = async (query: string, count: number) => {
    const deadline = Date.now() + 30_000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      const out = await temporal(['workflow', 'list', '--query', query, '--output', 'jsonl']);
      ids = out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => (JSON.parse(l) as Obj).execution.workflowId as string)
        .sort();
      if (ids.length >= count) return ids;
      await new Promise((r) => setTimeout(r, 500));
    }
    return ids;
  };
  expect(
    await listIds(
      `WorkflowType='migrationWorkflow' AND FerrySchedule='cli-sched' AND FerryNamespace='${NS}'`,
      2,
    ),
  ).toEqual([first, triggered].map((n) => `migration/${NS}/${n}`).sort());
  expect(
    await listIds(
      `FerryClusterPair='remote' AND FerryPolicyType='interval' AND FerrySchedule='cli-sched'`,
      3,
    ),
  ).toEqual([id, ...[first, triggered].map((n) => `migration/${NS}/${n}`)].sort());
  const status = JSON.parse(
    await temporal(['workflow', 'query', '-w', id, '--name', 'status', '--output', 'json']),
  ) as Obj;
  process.stderr.write(`[schedule] CLI query: ${JSON.stringify(status).slice(0, 300)}\n`);
  await temporal(['workflow', 'cancel', '-w', id]);
  await world.kubectl('source', [
    'delete',
    'migrations',
    '-n',
    NS,
    '-l',
    'stork.libopenstorage.org/migration-schedule-name=cli-sched',
  ]);
});
