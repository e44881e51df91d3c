// No credential in any workflow history (DESIGN: activity inputs carry names, never credentials).
// A Migration and a MigrationSchedule run through the real worker, without the payload codec,
// with a ClusterPair whose kubeconfig holds a token, a client certificate and its key, and whose
// options hold the destination agent's token, over a namespace holding a Secret and a volume.
// Then every history in the dev server's namespace is read without a codec and searched, byte
// field by byte field, for each of those secrets.
import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connectTemporal } from '../../client/temporal.js';
import { issueCertificate } from '../../localenv/tls.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { allHistories, historyText } from '../harness/history-scan.js';

jest.setTimeout(240_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'vault';
const VOLUME = 'vault-data';
const SECRET_VALUE = `pw-${crypto.randomBytes(12).toString('hex')}`;
const SECRET_FILE_LINE = `api-key=${crypto.randomBytes(16).toString('hex')}`;
let world: DrWorld;
const secrets: Record<string, string> = {};

function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
}

beforeAll(async () => {
  world = await startDrWorld('history-secrets');
  const env = harness().env;
  const dest = env.clusters['destination']!;
  // A client certificate of the standby's CA, so the pair's kubeconfig really uses cert and key.
  const pki = path.join(path.dirname(dest.kubeconfigPath), 'pki');
  const ca = {
    certPath: path.join(pki, 'ca.crt'),
    keyPath: path.join(pki, 'ca.key'),
    certPem: fs.readFileSync(path.join(pki, 'ca.crt'), 'utf8'),
  };
  const client = await issueCertificate(ca, path.join(world.dir, 'pair-client'), 'pair-client', {
    commonName: 'ferry-pair',
    organization: 'system:masters',
    usages: ['clientAuth'],
    sans: [],
  });
  const pair = JSON.parse(await world.clusterPairYaml(NS, 'remote')) as Obj;
  const user = pair.spec.config.users[0].user as Obj;
  user['client-certificate-data'] = Buffer.from(client.certPem).toString('base64');
  user['client-key-data'] = Buffer.from(client.keyPem).toString('base64');
  Object.assign(secrets, {
    'kubeconfig token': String(user['token']),
    'kubeconfig client-key-data': user['client-key-data'],
    'kubeconfig client-certificate-data': user['client-certificate-data'],
    'destination agent token': world.agents.destination.token,
    'source agent token': world.agents.source.token,
    'Secret value': SECRET_VALUE,
    'Secret value, base64': Buffer.from(SECRET_VALUE).toString('base64'),
    'volume file content': SECRET_FILE_LINE,
  });
  pemBodyLines(client.keyPem).forEach((l, i) => (secrets[`client key PEM line ${i + 1}`] = l));
  expect(secrets['kubeconfig token']!.length).toBeGreaterThan(10);

  await world.agents.source.client().createVolume(VOLUME);
  const vol = world.agents.source.volumePath(VOLUME);
  fs.writeFileSync(path.join(vol, 'app.env'), `${SECRET_FILE_LINE}\n`);
  const objects: Obj[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db-credentials', namespace: NS },
      stringData: { password: SECRET_VALUE },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-vault' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'manual',
        hostPath: { path: vol },
        claimRef: { namespace: NS, name: 'data' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: NS },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'manual',
        volumeName: 'pv-vault',
        resources: { requests: { storage: '1Gi' } },
      },
    },
    pair,
    {
      apiVersion: 'stork.libopenstorage.org/v1alpha1',
      kind: 'SchedulePolicy',
      metadata: { name: 'vault-every-hour' },
      policy: { interval: { intervalMinutes: 60 } },
    },
  ];
  await world.kubectl('source', ['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
});

afterAll(async () => {
  await world
    ?.kubectl('source', ['delete', 'migrationschedule', '-n', NS, 'vault-sched', '--timeout=25s'])
    .catch(() => '');
  // Cluster-scoped: other tests of the run list every SchedulePolicy of the shared cluster.
  await world?.kubectl('source', ['delete', 'schedulepolicy', 'vault-every-hour']).catch(() => '');
  await world?.stop();
});

it('runs a Migration and a scheduled Migration with those credentials, and no history holds any of them', async () => {
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    migrationYaml(NS, 'm1', { clusterPair: 'remote', namespaces: [NS] }),
  );
  const m = (await world.waitForMigration(NS, 'm1')) as Obj;
  expect(m.status.status).toBe('Successful');
  expect(m.status.resources.map((r: Obj) => `${r.kind}/${r.name}`)).toContain('Secret/db-credentials');
  expect(m.status.volumes[0]).toMatchObject({ volume: VOLUME, status: 'Successful' });
  // The standby really got the Secret and the volume: the credentials were used.
  const copied = (await world.kube.destination.request(
    'GET',
    `/api/v1/namespaces/${NS}/secrets/db-credentials`,
  )) as Obj;
  expect(Buffer.from(copied.data.password, 'base64').toString()).toBe(SECRET_VALUE);

  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'stork.libopenstorage.org/v1alpha1',
      kind: 'MigrationSchedule',
      metadata: { name: 'vault-sched', namespace: NS },
      spec: {
        template: { spec: { clusterPair: 'remote', namespaces: [NS] } },
        schedulePolicyName: 'vault-every-hour',
      },
    }),
  );
  let scheduled = '';
  const deadline = Date.now() + 60_000;
  while (!scheduled && Date.now() < deadline) {
    const list = (await world.kube.source.request(
      'GET',
      `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${NS}/migrations?labelSelector=stork.libopenstorage.org/migration-schedule-name=vault-sched`,
    )) as Obj;
    scheduled = list.items[0]?.metadata?.name ?? '';
    if (!scheduled) await new Promise((r) => setTimeout(r, 500));
  }
  expect(scheduled).not.toBe('');
  expect(((await world.waitForMigration(NS, scheduled)) as Obj).status.status).toBe('Successful');

  const raw = await connectTemporal(harness().env.temporal); // no codec
  try {
    const histories = await allHistories(raw.client);
    const ids = histories.map((h) => h.workflowId);
    expect(ids).toEqual(
      expect.arrayContaining([
        `migration/${NS}/m1`,
        `migrationschedule/${NS}/vault-sched`,
        `migration/${NS}/${scheduled}`,
      ]),
    );
    const leaks: string[] = [];
    let events = 0;
    let bytes = 0;
    for (const h of histories) {
      const text = historyText(h.history);
      events += h.history.events?.length ?? 0;
      bytes += text.length;
      for (const [what, value] of Object.entries(secrets))
        if (text.includes(value)) leaks.push(`${what} in ${h.workflowId}`);
    }
    process.stdout.write(
      `[history-secrets] scanned ${histories.length} histories, ${events} events, ${bytes} characters for ${Object.keys(secrets).length} secrets: ${leaks.length} leaks\n`,
    );
    expect(leaks).toEqual([]);
    // The scan finds a secret where one is: a history's text does include its own names.
    const own = histories.find((h) => h.workflowId === `migration/${NS}/m1`)!;
    expect(historyText(own.history)).toContain('db-credentials');
  } finally {
    await raw.close();
  }
});
