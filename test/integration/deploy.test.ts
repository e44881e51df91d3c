// deploy/ on a real apiserver with RBAC on (--authorization-mode=Node,RBAC): one
// `kubectl apply -k deploy/` installs everything; `kubectl auth can-i --as` the worker's and the
// agent's ServiceAccounts shows the worker can do exactly what activities/ and
// workers/controllers/ call and nothing it must not; and a real `ferry worker` running with the
// worker ServiceAccount's token (not the admin's) carries a migration through to Successful.
import { jest } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../localenv/paths.js';
import { prng } from '../agents/trees.js';
import { hostPathClaimYaml, migrationYaml } from '../fixtures/apps/shop.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(240_000);

const { env } = harness();
const kubeconfig = env.clusters['source']!.kubeconfigPath;
const WORKER = 'system:serviceaccount:ferry-system:ferry-worker';
const AGENT = 'system:serviceaccount:ferry-system:ferry-agent';
const PROTECTED = 'deploy-protected';
const OTHER = 'deploy-other';

/** Runs the real kubectl on the source cluster: exit code and output, whatever the code. */
function kubectl(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      env.bins.kubectl!,
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: 60_000, cwd: repoRoot() },
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number((error as { code?: number }).code ?? 1) : 0,
          out: stdout,
          err: stderr,
        }),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(args, stdin);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.err}`);
  return r.out;
}

/** `kubectl auth can-i` as `user`: "yes" or "no" (exit 0 or 1). */
async function canI(user: string, check: string): Promise<string> {
  const r = await kubectl(['auth', 'can-i', ...check.split(' '), `--as=${user}`]);
  if (r.code > 1) throw new Error(`auth can-i ${check}: ${r.err}`);
  return r.out.trim();
}

let world: DrWorld | undefined;

beforeAll(async () => {
  const out = await ok(['apply', '-k', 'deploy/']);
  expect(out).toMatch(/namespace\/ferry-system (created|unchanged|configured)/);
  for (const ns of [PROTECTED, OTHER]) await ok(['create', 'namespace', ns]);
  // What README asks for each protected namespace.
  await ok([
    'create',
    'rolebinding',
    'ferry-worker',
    '-n',
    PROTECTED,
    '--clusterrole=ferry-worker-namespace',
    '--serviceaccount=ferry-system:ferry-worker',
  ]);
});

afterAll(async () => {
  await world?.stop();
  // Not `delete -k`: the CRDs are shared with the run's other tests.
  await kubectl(['delete', 'namespace', 'ferry-system', PROTECTED, OTHER, '--wait=false']);
  await kubectl(['delete', 'clusterrole,clusterrolebinding', '-l', 'app.kubernetes.io/part-of=ferry']);
});

it('installs every object with one kubectl apply -k', async () => {
  const got = await ok([
    'get',
    '-n',
    'ferry-system',
    'deployment/ferry-worker',
    'daemonset/ferry-agent',
    'serviceaccount/ferry-worker',
    'serviceaccount/ferry-agent',
    'configmap/ferry-worker',
    'service/ferry-worker',
    'service/ferry-agent',
    '-o',
    'name',
  ]);
  expect(got.trim().split('\n')).toHaveLength(7);
  const crds = await ok(['get', 'crd', '-l', 'app.kubernetes.io/part-of=ferry', '-o', 'name']);
  expect(crds.trim().split('\n').sort()).toEqual(
    fs
      .readdirSync(path.join(repoRoot(), 'deploy', 'crds'))
      .map((f) => `customresourcedefinition.apiextensions.k8s.io/${f.replace(/\.yaml$/, '')}`)
      .sort(),
  );
  const deployment = JSON.parse(
    await ok(['get', '-n', 'ferry-system', 'deployment/ferry-worker', '-o', 'json']),
  ) as { spec: { template: { spec: Record<string, any> } } }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const pod = deployment.spec.template.spec;
  expect(pod['serviceAccountName']).toBe('ferry-worker');
  expect(pod['securityContext'].runAsNonRoot).toBe(true);
  expect(pod['containers'][0].image).toBe('ferry:0.1.0');
  expect(pod['containers'][0].securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
});

it.each([
  // the controllers: list+watch everywhere, finalizers, teardown
  ['list migrations.stork.libopenstorage.org -A', 'yes'],
  ['watch migrations.stork.libopenstorage.org -A', 'yes'],
  ['patch migrations.stork.libopenstorage.org -n any', 'yes'],
  ['create migrations.stork.libopenstorage.org -n any', 'yes'],
  ['delete migrations.stork.libopenstorage.org -n any', 'yes'],
  ['patch migrations.stork.libopenstorage.org --subresource=status -n any', 'yes'],
  ['watch migrationschedules.stork.libopenstorage.org -A', 'yes'],
  ['patch migrationschedules.stork.libopenstorage.org -n any', 'yes'],
  ['patch migrationschedules.stork.libopenstorage.org --subresource=status -n any', 'yes'],
  ['get schedulepolicies.stork.libopenstorage.org', 'yes'],
  ['get namespacedschedulepolicies.stork.libopenstorage.org -n any', 'yes'],
  ['get clusterpairs.stork.libopenstorage.org -n any', 'yes'],
  ['get rules.stork.libopenstorage.org -n any', 'yes'],
  ['get resourcetransformations.stork.libopenstorage.org -n any', 'yes'],
  ['create events -n any', 'yes'],
  ['list namespaces', 'yes'],
  ['list persistentvolumes', 'yes'],
  ['list customresourcedefinitions.apiextensions.k8s.io', 'yes'],
  // a protected namespace (RoleBinding to ferry-worker-namespace): read everything, exec for rules
  [`get secrets -n ${PROTECTED}`, 'yes'],
  [`list deployments.apps -n ${PROTECTED}`, 'yes'],
  [`list persistentvolumeclaims -n ${PROTECTED}`, 'yes'],
  [`create pods --subresource=exec -n ${PROTECTED}`, 'yes'],
  // and what it must not do
  ['get secrets -n kube-system', 'no'],
  [`list secrets -n ${OTHER}`, 'no'],
  ['list secrets -A', 'no'],
  ['create pods --subresource=exec -n kube-system', 'no'],
  ['delete namespaces', 'no'],
  ['create namespaces', 'no'],
  ['delete persistentvolumes', 'no'],
  ['delete customresourcedefinitions.apiextensions.k8s.io', 'no'],
  [`create deployments.apps -n ${PROTECTED}`, 'no'],
  [`delete secrets -n ${PROTECTED}`, 'no'],
  [`patch configmaps -n ${PROTECTED}`, 'no'],
  ['update migrations.stork.libopenstorage.org -n any', 'no'],
  ['delete migrationschedules.stork.libopenstorage.org -n any', 'no'],
  ['patch clusterpairs.stork.libopenstorage.org -n any', 'no'],
  ['create schedulepolicies.stork.libopenstorage.org', 'no'],
  ['delete events -n any', 'no'],
  ['create clusterrolebindings.rbac.authorization.k8s.io', 'no'],
  ['impersonate serviceaccounts -n kube-system', 'no'],
])('the worker: can-i %s → %s', async (check, expected) => {
  expect(await canI(WORKER, check)).toBe(expected);
});

it.each([
  'list pods -n ferry-system',
  'get secrets -n ferry-system',
  'get configmaps -n ferry-system',
  'list migrations.stork.libopenstorage.org -A',
  'list nodes',
])('the agent: can-i %s → no', async (check) => {
  expect(await canI(AGENT, check)).toBe('no');
});

it("a real worker on the worker ServiceAccount's token migrates a protected namespace", async () => {
  const token = (await ok(['create', 'token', 'ferry-worker', '-n', 'ferry-system', '--duration=1h'])).trim();
  const admin = new KubeConfig();
  admin.loadFromFile(kubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'ferry-worker', token }],
    contexts: [{ name: 'ferry-worker', cluster: cluster.name, user: 'ferry-worker' }],
    currentContext: 'ferry-worker',
  });
  const dir = path.join(env.dir, 'deploy-test');
  fs.mkdirSync(dir, { recursive: true });
  const saKubeconfig = path.join(dir, 'ferry-worker.kubeconfig');
  fs.writeFileSync(saKubeconfig, kc.exportConfig(), { mode: 0o600 });

  world = await startDrWorld('deploy', { workerKubeconfig: saKubeconfig });
  const src = world.agents.source;
  const volume = 'deploy-data';
  await src.client().createVolume(volume);
  fs.writeFileSync(path.join(src.volumePath(volume), 'data.bin'), prng(512 * 1024, 'deploy'));
  await ok(
    ['apply', '-f', '-'],
    `
${hostPathClaimYaml(PROTECTED, { volumePath: src.volumePath(volume), pv: `pv-${volume}` })}
---
apiVersion: v1
kind: Secret
metadata: {name: credentials, namespace: ${PROTECTED}}
stringData: {password: s3cret}
`,
  );
  await ok(['apply', '-f', '-'], await world.clusterPairYaml(PROTECTED, 'remote'));
  await ok(
    ['apply', '-f', '-'],
    migrationYaml(PROTECTED, 'm1', { clusterPair: 'remote', namespaces: [PROTECTED] }),
  );
  const m = (await world.waitForMigration(PROTECTED, 'm1')) as {
    status: { status: string; reason?: string; summary: { totalBytesMigrated: number } };
  };
  expect([m.status.status, m.status.reason ?? '']).toEqual(['Successful', '']);
  expect(m.status.summary.totalBytesMigrated).toBe(512 * 1024);
  const secret = (await world.kube.destination.request(
    'GET',
    `/api/v1/namespaces/${PROTECTED}/secrets/credentials`,
  )) as { data: Record<string, string> };
  expect(Buffer.from(secret.data['password']!, 'base64').toString()).toBe('s3cret');

  // The same worker cannot migrate a namespace nobody bound it to: the API server refuses it.
  await ok(['apply', '-f', '-'], await world.clusterPairYaml(OTHER, 'remote'));
  await ok(['apply', '-f', '-'], migrationYaml(OTHER, 'm2', { clusterPair: 'remote', namespaces: [OTHER] }));
  const refused = (await world.waitForMigration(OTHER, 'm2')) as {
    metadata: { creationTimestamp: string };
    status: { status: string; reason: string; finishTimestamp: string };
  };
  expect(refused.status.status).toBe('Failed');
  expect(refused.status.reason).toMatch(/forbidden/i);
  expect(refused.status.reason).toContain('needs a RoleBinding to ClusterRole ferry-worker-namespace');
  // A refusal is final: it is not retried (the six retries used to add ~25 s).
  const took = Date.parse(refused.status.finishTimestamp) - Date.parse(refused.metadata.creationTimestamp);
  expect(took).toBeLessThan(15_000);
});
