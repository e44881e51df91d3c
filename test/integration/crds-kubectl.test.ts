import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../localenv/paths.js';
import { harness } from '../harness/context.js';

const run = promisify(execFile);
const fixtures = path.join(repoRoot(), 'test', 'fixtures');

/** Runs the real kubectl against a harness cluster; never throws, returns code and output. */
async function kubectl(cluster: 'source' | 'destination', ...args: string[]) {
  const { env } = harness();
  try {
    const { stdout, stderr } = await run(env.bins.kubectl!, [
      '--kubeconfig',
      env.clusters[cluster]!.kubeconfigPath,
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs the built storkctl/ferry binary (npm test builds dist/ first). */
async function cli(program: 'storkctl' | 'ferry', ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [
      path.join(repoRoot(), 'dist', 'workers', `${program}.js`),
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe("Ferry's CRDs in a real kube-apiserver, through the real kubectl", () => {
  it('are installed and established in both clusters', async () => {
    for (const cluster of ['source', 'destination'] as const) {
      const res = await kubectl(cluster, 'get', 'crd', '-o', 'name');
      // Other tests of the run add CRDs of their own (a migrated app's); Ferry's are these.
      const ours = res.stdout
        .trim()
        .split('\n')
        .filter((n) => n.endsWith('.stork.libopenstorage.org'));
      expect(ours.sort()).toEqual([
        'customresourcedefinition.apiextensions.k8s.io/clusterpairs.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/migrations.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/migrationschedules.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/namespacedschedulepolicies.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/resourcetransformations.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/rules.stork.libopenstorage.org',
        'customresourcedefinition.apiextensions.k8s.io/schedulepolicies.stork.libopenstorage.org',
      ]);
    }
  });

  it("accepts the seed's YAML as written (kubectl apply)", async () => {
    expect((await kubectl('source', 'create', 'namespace', 'mysql')).code).toBe(0);
    const res = await kubectl('source', 'apply', '-f', path.join(fixtures, 'seed'));
    expect(res.stderr).toBe('');
    expect(res.stdout.trim().split('\n').sort()).toEqual([
      'clusterpair.stork.libopenstorage.org/remotecluster created',
      'migrationschedule.stork.libopenstorage.org/mysqlmigrationschedule created',
      'schedulepolicy.stork.libopenstorage.org/testpolcy created',
    ]);
    const policy = JSON.parse(
      (await kubectl('source', 'get', 'schedulepolicy', 'testpolcy', '-o', 'json')).stdout,
    );
    expect(policy.metadata.namespace).toBeUndefined(); // cluster-scoped: the seed's namespace is dropped
    expect(policy.policy).toEqual({
      interval: { intervalMinutes: 1, retain: 10 },
      daily: { time: '10:14PM', retain: 30 },
      weekly: { day: 'Thursday', time: '10:13PM', retain: 7 },
      monthly: { date: 14, time: '8:05PM', retain: 12 },
    });
    const sched = JSON.parse(
      (
        await kubectl(
          'source',
          'get',
          'migrationschedule',
          '-n',
          'mysql',
          'mysqlmigrationschedule',
          '-o',
          'json',
        )
      ).stdout,
    );
    expect(sched.spec.schedulePolicyName).toBe('testpolicy');
    expect(sched.spec.template.spec).toMatchObject({
      clusterPair: 'remotecluster',
      includeResources: true,
      startApplications: false,
      namespaces: ['mysql'],
    });
    const pair = JSON.parse(
      (await kubectl('source', 'get', 'clusterpair', '-n', 'default', 'remotecluster', '-o', 'json')).stdout,
    );
    expect(pair.spec.options.mode).toBe('DisasterRecovery');
    expect(pair.spec.config.clusters.kubernetes.server).toBe('https://192.168.56.74:6443');

    const table = await kubectl('source', 'get', 'schedulepolicies');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+INTERVAL-MINUTES\s+DAILY\s+WEEKLY/);
    expect(table.stdout).toMatch(/testpolcy\s+1\s+10:14PM\s+Thursday/);
  });

  it('rejects what Ferry rejects, naming the field', async () => {
    const badTime = await kubectl('source', 'apply', '-f', path.join(fixtures, 'invalid', 'bad-time.yaml'));
    expect(badTime.code).not.toBe(0);
    expect(badTime.stderr).toContain('policy.daily.time');

    const unknown = await kubectl(
      'source',
      'apply',
      '-n',
      'mysql',
      '-f',
      path.join(fixtures, 'invalid', 'unknown-field.yaml'),
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown field "spec\.templat"/);
  });

  it('storkctl get reads the cluster and prints what it prints for the same YAML', async () => {
    const kubeconfig = harness().env.clusters.source!.kubeconfigPath;
    // By name: other test files of the run may add cluster-scoped policies meanwhile.
    const fromCluster = await cli(
      'storkctl',
      'get',
      'schedulepolicy',
      'testpolcy',
      '--kubeconfig',
      kubeconfig,
    );
    const fromFile = await cli(
      'storkctl',
      'get',
      'schedulepolicy',
      'testpolcy',
      '-f',
      path.join(fixtures, 'seed', 'schedulepolicy.yaml'),
    );
    expect(fromCluster).toEqual({ code: 0, stdout: fromFile.stdout, stderr: '' });
    expect(fromCluster.stdout).toMatch(
      /^NAME\s+INTERVAL-MINUTES\s+DAILY\s+WEEKLY\s+MONTHLY\ntestpolcy\s+1\s+10:14PM\s+Thursday@10:13PM\s+14@8:05PM\n$/,
    );

    const sched = await cli(
      'ferry',
      'get',
      'migrationschedule',
      '-n',
      'mysql',
      '--kubeconfig',
      kubeconfig,
      '-o',
      'json',
    );
    expect(JSON.parse(sched.stdout).metadata.name).toBe('mysqlmigrationschedule');

    const missing = await cli('storkctl', 'get', 'schedulepolicy', 'nope', '--kubeconfig', kubeconfig);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr.trim()).toBe(
      'Error from server (NotFound): schedulepolicies.stork.libopenstorage.org "nope" not found',
    );

    const none = await cli('storkctl', 'get', 'migrations', '-n', 'mysql', '--kubeconfig', kubeconfig);
    expect(none).toEqual({ code: 0, stdout: '', stderr: 'No resources found in mysql namespace.\n' });
  });
});
