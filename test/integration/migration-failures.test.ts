// Every failure a user can cause ends the migration Failed within seconds, with the reason in the
// CR's status, a Warning Event, and the workflow's own failure — never endless retries.
import { jest } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';

jest.setTimeout(120_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'broken';

beforeAll(async () => {
  world = await startDrWorld('failures');
  await world.kubectl('source', ['create', 'namespace', NS]);
  await world.kubectl('source', ['create', 'configmap', '-n', NS, 'c', '--from-literal=a=b']);
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    await world.clusterPairYaml(NS, 'wrong-token', { token: 'not-the-token' }),
  );
  const pair = await world.clusterPairYaml(NS, 'unreachable');
  const server = /server: (\S+)/.exec(await readFile(world.kubeconfig('destination'), 'utf8'))![1]!;
  await world.kubectl('source', ['apply', '-f', '-'], pair.replace(server, 'https://127.0.0.1:9'));
});

afterAll(async () => {
  await world?.stop();
});

async function expectFailure(name: string, spec: Record<string, unknown>, reason: RegExp, event: RegExp) {
  const started = Date.now();
  await world.kubectl('source', ['apply', '-f', '-'], migrationYaml(NS, name, spec));
  const m = await world.waitForMigration(NS, name, 60_000);
  const seconds = (Date.now() - started) / 1000;
  const status = m['status'] as Obj;
  expect(status.status).toBe('Failed');
  expect(status.reason).toMatch(reason);
  expect(seconds).toBeLessThan(20);
  // The Migration's own Warning (not its ClusterPair's, which may share its name); it is recorded
  // beside the status, so it may show a moment after the status does.
  const warnings = await eventually(
    `a Warning on Migration ${NS}/${name} matching ${String(event)}`,
    async () => {
      const events = (await world.kube.source.request(
        'GET',
        `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.kind=Migration,involvedObject.name=${name}`,
      )) as Obj;
      const list = events.items.filter((e: Obj) => e.type === 'Warning').map((e: Obj) => e.message as string);
      return list.some((m: string) => event.test(m)) ? list : undefined;
    },
    10_000,
  );
  expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(event)]));
  const handle = world.temporal.workflow.getHandle(`migration/${NS}/${name}`);
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(String((err as WorkflowFailedError).cause?.message)).toMatch(reason);
  return seconds;
}

describe('Migration failures', () => {
  it('an unknown ClusterPair', async () => {
    await expectFailure(
      'no-pair',
      { clusterPair: 'nope', namespaces: [NS] },
      /ClusterPair broken\/nope not found/,
      /Migration failed: ClusterPair broken\/nope not found/,
    );
  });

  it('a standby whose API server cannot be reached', async () => {
    await expectFailure(
      'unreachable',
      { clusterPair: 'unreachable', namespaces: [NS] },
      /standby API server unreachable: .*ECONNREFUSED/,
      /unreachable/,
    );
    const pair = (await world.kube.source.request(
      'GET',
      `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/clusterpairs/unreachable`,
    )) as Obj;
    expect(pair.status.schedulerStatus).toBe('Error');
  });

  it('a token the destination agent refuses', async () => {
    await expectFailure(
      'wrong-token',
      { clusterPair: 'wrong-token', namespaces: [NS] },
      /destination agent at https:\/\/127\.0\.0\.1:\d+ refused the token \(options\.token\)/,
      /refused the token/,
    );
    const pair = (await world.kube.source.request(
      'GET',
      `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/clusterpairs/wrong-token`,
    )) as Obj;
    expect(pair.status).toMatchObject({ schedulerStatus: 'Ready', storageStatus: 'Error' });
  });

  it('a pre-exec Rule that does not exist', async () => {
    await expectFailure(
      'no-rule',
      { clusterPair: 'remote', namespaces: [NS], preExecRule: 'absent' },
      /spec\.preExecRule: Rule broken\/absent not found/,
      /^Error running PreExecRule: spec\.preExecRule: Rule broken\/absent not found$/,
    );
  });

  it('a bad spec given through the SDK is refused with the field named, and no CR is made', async () => {
    const handle = await world.temporal.workflow.start('migrationWorkflow', {
      workflowId: `migration/${NS}/bad-spec`,
      taskQueue: world.taskQueue,
      args: [
        { namespace: NS, name: 'bad-spec', spec: { clusterPair: 'remote', namespaces: ['Not_A_Namespace'] } },
      ],
    });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(err.cause?.message).toMatch(
      /spec\.namespaces\[0\]: "Not_A_Namespace" is not a valid namespace name/,
    );
    await expect(
      world.kube.source.request(
        'GET',
        `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/migrations/bad-spec`,
      ),
    ).rejects.toMatchObject({ code: 404 });
  });

  it('a migration started through the SDK with a good spec gets its CR, which kubectl lists', async () => {
    const handle = await world.temporal.workflow.start('migrationWorkflow', {
      workflowId: `migration/${NS}/from-sdk`,
      taskQueue: world.taskQueue,
      args: [{ namespace: NS, name: 'from-sdk', spec: { clusterPair: 'remote', namespaces: [NS] } }],
    });
    expect(await handle.result()).toMatchObject({ status: 'Successful' });
    const out = await world.kubectl('source', [
      'get',
      'migrations',
      '-n',
      NS,
      'from-sdk',
      '-o',
      'jsonpath={.status.status}',
    ]);
    expect(out).toBe('Successful');
  });

  it('the worker serves /healthz and /metrics, and on SIGTERM drains and exits 0', async () => {
    const health = await fetch(`http://${world.worker.http}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`http://${world.worker.http}/metrics`)).text();
    expect(metrics).toMatch(/^ferry_controller_reconciles_total\{outcome="started"\} [1-9]/m);
    expect(metrics).toContain('ferry_worker_process_resident_memory_bytes');
    await world.worker.stop();
    expect(await world.worker.exited).toBe(0);
  });
});
