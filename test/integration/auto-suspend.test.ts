// autoSuspend on real servers: two MigrationSchedules (every minute) migrate a Deployment each to
// the standby, one with `autoSuspend: true`, one without. `storkctl activate migrations` on the
// standby (the built CLI, as a user runs it) scales both Deployments up there; the guarded
// schedule then suspends itself (spec.suspend true on its CR, the Stork Event,
// status.applicationActivated) and starts no further migration, while the other one carries on.
// Only API objects are checked, so no node is needed.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../localenv/paths.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(300_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const POLICY = `auto-suspend-every-minute-${process.pid}`;
const GUARDED = 'autosus';
const PLAIN = 'autoplain';

const deployment = (ns: string) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'ferry.local/busybox', command: ['sleep', '1d'] }] },
      },
    },
  });

const schedule = (ns: string, autoSuspend: boolean) =>
  JSON.stringify({
    apiVersion: 'stork.libopenstorage.org/v1alpha1',
    kind: 'MigrationSchedule',
    metadata: { name: ns, namespace: ns },
    spec: {
      template: { spec: { clusterPair: 'remote', namespaces: [ns], includeVolumes: false } },
      schedulePolicyName: POLICY,
      autoSuspend,
    },
  });

const migrations = async (ns: string): Promise<Obj[]> =>
  (JSON.parse(await world.kubectl('source', ['get', 'migrations', '-n', ns, '-o', 'json'])) as Obj).items;
const getSchedule = async (ns: string): Promise<Obj> =>
  JSON.parse(await world.kubectl('source', ['get', 'migrationschedule', ns, '-n', ns, '-o', 'json'])) as Obj;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const successful = (ns: string) =>
  until(`a Successful Migration in ${ns}`, 120_000, async () => {
    const ok = (await migrations(ns)).filter((m) => m.status?.status === 'Successful');
    return ok.length > 0 ? ok : undefined;
  });

function storkctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['FERRY_AGENT_URL'];
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [
        path.join(repoRoot(), 'dist', 'workers', 'storkctl.js'),
        ...args,
        '--kubeconfig',
        world.kubeconfig('destination'),
      ],
      { timeout: 60_000, env },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

beforeAll(async () => {
  world = await startDrWorld('autosuspend');
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    `{"apiVersion":"stork.libopenstorage.org/v1alpha1","kind":"SchedulePolicy","metadata":{"name":"${POLICY}"},"policy":{"interval":{"intervalMinutes":1}}}`,
  );
  for (const ns of [GUARDED, PLAIN]) {
    await world.kubectl('source', ['create', 'namespace', ns]);
    await world.kubectl('source', ['apply', '-f', '-'], deployment(ns));
    await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ns, 'remote'));
  }
});

afterAll(async () => {
  for (const ns of [GUARDED, PLAIN])
    await world
      ?.kubectl('source', ['delete', 'migrationschedule', ns, '-n', ns, '--timeout=60s'])
      .catch(() => '');
  await world?.kubectl('source', ['delete', 'schedulepolicy', POLICY, '--ignore-not-found']).catch(() => '');
  await world?.stop();
});

it('with autoSuspend a schedule suspends itself once its apps are activated on the standby; without, it does not', async () => {
  await world.kubectl('source', ['apply', '-f', '-'], schedule(GUARDED, true));
  await world.kubectl('source', ['apply', '-f', '-'], schedule(PLAIN, false));
  await Promise.all([successful(GUARDED), successful(PLAIN)]);

  // What the standby holds after a migration: the Deployment at 0, its count in the annotation.
  for (const ns of [GUARDED, PLAIN]) {
    const d = JSON.parse(
      await world.kubectl('destination', ['get', 'deployment', 'web', '-n', ns, '-o', 'json']),
    ) as Obj;
    expect(d.spec.replicas).toBe(0);
    expect(d.metadata.annotations['stork.libopenstorage.org/migrationReplicas']).toBe('2');
  }
  expect((await getSchedule(GUARDED)).spec.suspend).toBe(false);

  const activatedAt = Date.now();
  for (const ns of [GUARDED, PLAIN]) {
    const out = await storkctl(['activate', 'migrations', '-n', ns]);
    expect(out).toMatchObject({ code: 0 });
    expect(out.stdout).toContain(`Updated replicas for deployment ${ns}/web to 2`);
  }

  // The guarded schedule asks the standby before its next trigger (at most a minute away).
  const suspended = await until('spec.suspend true on the guarded schedule', 90_000, async () => {
    const s = await getSchedule(GUARDED);
    return s.spec.suspend === true ? s : undefined;
  });
  const suspendedAt = Date.now();
  process.stderr.write(`[auto-suspend] suspended ${suspendedAt - activatedAt} ms after activate\n`);
  const status = await until('status.applicationActivated on the guarded schedule', 30_000, async () => {
    const s = await getSchedule(GUARDED);
    return s.status?.applicationActivated === true ? s.status : undefined;
  });
  expect(status.applicationActivated).toBe(true);
  expect(suspended.spec.autoSuspend).toBe(true);
  const events = await world.kubectl('source', [
    'get',
    'events',
    '-n',
    GUARDED,
    '--field-selector',
    `involvedObject.kind=MigrationSchedule,involvedObject.name=${GUARDED}`,
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
  expect(events).toContain('Suspending migration schedule since migrated apps on remote cluster are active');
  const guardedNames = (await migrations(GUARDED)).map((m) => m.metadata.name as string).sort();
  const query = await world.temporal.workflow
    .getHandle(`migrationschedule/${GUARDED}/${GUARDED}`)
    .query<Obj>('status');
  expect(query.autoSuspended.evidence).toEqual([`deployment ${GUARDED}/web runs 2 replicas`]);

  // A trigger later: the plain schedule started a migration after the suspension, the guarded
  // one none.
  const plainAfter = await until(
    'a Migration of the plain schedule after the suspension',
    100_000,
    async () => {
      const later = (await migrations(PLAIN)).filter(
        (m) => Date.parse(m.metadata.creationTimestamp) > suspendedAt + 1000,
      );
      return later.length > 0 ? later : undefined;
    },
  );
  expect(plainAfter.length).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 5000));
  expect((await migrations(GUARDED)).map((m) => m.metadata.name as string).sort()).toEqual(guardedNames);
  expect((await getSchedule(PLAIN)).spec.suspend).toBe(false);
  expect((await getSchedule(PLAIN)).status?.applicationActivated).not.toBe(true);
});
