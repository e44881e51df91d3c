// Stork users' YAML through the real kubectl into a real kube-apiserver with Ferry's CRDs: every
// fixture of test/fixtures/stork applies unchanged (Stork's defaults filled in by the CRDs), and
// the invalid variants are refused with the field named. It uses the destination cluster and
// deletes what it applied, so the source's SchedulePolicies stay those crds-kubectl.test.ts expects.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../localenv/paths.js';
import { harness } from '../harness/context.js';

const run = promisify(execFile);
const fixtures = path.join(repoRoot(), 'test', 'fixtures');
const NS = 'stork-yaml';

async function kubectl(...args: string[]) {
  const { env } = harness();
  try {
    const { stdout, stderr } = await run(env.bins.kubectl!, [
      '--kubeconfig',
      env.clusters['destination']!.kubeconfigPath,
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const getJson = async (...args: string[]) => JSON.parse((await kubectl('get', ...args, '-o', 'json')).stdout);

describe("Stork's v1alpha1 YAML through the real kubectl", () => {
  beforeAll(async () => {
    await kubectl('create', 'namespace', NS);
  });
  afterAll(async () => {
    await kubectl('delete', '-n', NS, '--ignore-not-found', '-f', path.join(fixtures, 'stork'));
  });

  it('applies every fixture as written', async () => {
    const res = await kubectl('apply', '-n', NS, '-f', path.join(fixtures, 'stork'));
    expect(res.stderr).toBe('');
    expect(res.stdout.trim().split('\n').sort()).toEqual([
      'clusterpair.stork.libopenstorage.org/drsite created',
      'migration.stork.libopenstorage.org/shop-everything created',
      'migration.stork.libopenstorage.org/shop-once created',
      'migrationschedule.stork.libopenstorage.org/appsync created',
      'migrationschedule.stork.libopenstorage.org/teamsync created',
      'namespacedschedulepolicy.stork.libopenstorage.org/gold-hours created',
      'resourcetransformation.stork.libopenstorage.org/lb-services created',
      'resourcetransformation.stork.libopenstorage.org/port-shift created',
      'schedulepolicy.stork.libopenstorage.org/appsync created',
      'schedulepolicy.stork.libopenstorage.org/as-stork-prints-it created',
      'schedulepolicy.stork.libopenstorage.org/full-week created',
    ]);
  });

  it("stores them with Stork's defaults", async () => {
    expect((await getJson('migration', '-n', NS, 'shop-once')).spec).toEqual({
      clusterPair: 'drsite',
      namespaces: ['shop'],
      includeResources: true,
      includeVolumes: true,
      startApplications: true,
      purgeDeletedResources: false,
      skipServiceUpdate: false,
      skipDeletedNamespaces: true,
      ignoreOwnerReferencesCheck: false,
      includeNetworkPolicyWithCIDR: false,
    });
    const teamsync = await getJson('migrationschedule', '-n', NS, 'teamsync');
    expect(teamsync.spec.autoSuspend).toBe(true);
    expect(teamsync.spec.template.spec).toMatchObject({
      adminClusterPair: 'admin-drsite',
      namespaceSelectors: { tier: 'gold', team: 'payments' },
      skipDeletedNamespaces: false,
      includeNetworkPolicyWithCIDR: true,
    });
    expect(teamsync.spec.template.spec.namespaces).toBeUndefined();
    const policy = await getJson('schedulepolicy', 'full-week');
    expect(policy.policy.interval).toEqual({
      intervalMinutes: 30,
      retain: 4,
      options: { 'portworx/snapshot-type': 'local' },
    });
    expect(policy.policy.daily).toEqual({ time: '10:14PM', retain: 14, forceFullSnapshotDay: 'Sunday' });
    const rt = await getJson('resourcetransformation', '-n', NS, 'port-shift');
    expect(rt.specs.transformSpecs[0]).toEqual({
      resource: '/v1/Service',
      paths: [{ path: 'spec.ports[0].nodePort', value: '30080', type: 'int', operation: 'modify' }],
    });
    const pair = await getJson('clusterpair', '-n', NS, 'drsite');
    expect(pair.spec.platformOptions).toEqual({ rancher: { projectMappings: { 'p-abc12': 'p-xyz89' } } });
  });

  it.each([
    [
      'migration-no-namespaces.yaml',
      [
        /The Migration "nothing" is invalid: spec: Invalid value: (?:"object": )?must list namespaces or set namespaceSelectors: neither names a namespace to migrate/,
      ],
    ],
    [
      'transformation-type.yaml',
      [
        /specs\.transformSpecs\[0\]\.paths\[0\]\.type: Unsupported value: "keyPairValue": supported values: "bool", "int", "string", "slice", "keypair"/,
      ],
    ],
    [
      'transformation-jsonpatch.yaml',
      [
        /specs\.transformSpecs\[0\]\.paths\[0\]\.operation: Unsupported value: "jsonpatch": supported values: "add", "modify", "delete"/,
      ],
    ],
    [
      'schedule-fields.yaml',
      [
        /spec\.autoSuspend: Invalid value: "string": spec\.autoSuspend in body must be of type boolean: "string"/,
        /spec\.template\.spec\.skipDeletedNamespaces: Invalid value: "string": spec\.template\.spec\.skipDeletedNamespaces in body must be of type boolean: "string"/,
        /spec\.template\.spec\.transformSpecs: Invalid value: "string": spec\.template\.spec\.transformSpecs in body must be of type array: "string"/,
        /policy\.daily\.forceFullSnapshotDay: Invalid value: "Someday": policy\.daily\.forceFullSnapshotDay in body should match/,
        /policy\.daily\.options\.retries: Invalid value: "integer": policy\.daily\.options\.retries in body must be of type string: "integer"/,
      ],
    ],
  ])('refuses %s, naming the field', async (file, messages) => {
    const res = await kubectl('apply', '-n', NS, '-f', path.join(fixtures, 'stork-invalid', file));
    expect(res.code).not.toBe(0);
    for (const m of messages) expect(res.stderr).toMatch(m);
  });
});
