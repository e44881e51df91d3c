// Stork's selection and transformation fields through a real migration: namespaceSelectors
// (OR-ed labels) joined with namespaces, skipDeletedNamespaces, ignoreOwnerReferencesCheck,
// includeNetworkPolicyWithCIDR, excludeResourceTypes, and transformSpecs (a ResourceTransformation
// changing what lands on the standby).
import { jest } from '@jest/globals';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(120_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const ADMIN = 'sel-admin';

const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const ns = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});
const cm = (namespace: string, name: string, extra: Obj = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...extra },
  data: { k: name },
});
const policy = (namespace: string, name: string, peer: Obj) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec: { podSelector: {}, ingress: [{ from: [peer] }] },
});

beforeAll(async () => {
  world = await startDrWorld('selection');
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    list([
      ns(ADMIN, {}),
      ns('sel-blue', { team: 'blue' }),
      ns('sel-green', { team: 'green', dr: 'yes' }),
      ns('sel-red', { team: 'red' }),
      ns('sel-listed', {}),
    ]),
  );
  const owner = (await world.kube.source.request('POST', '/api/v1/namespaces/sel-listed/configmaps', {
    body: cm('sel-listed', 'owner'),
  })) as Obj;
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    list([
      cm('sel-blue', 'blue-config'),
      cm('sel-green', 'green-config'),
      cm('sel-red', 'red-config'),
      cm('sel-listed', 'owned', {
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }],
      }),
      policy('sel-listed', 'from-cidr', { ipBlock: { cidr: '10.1.0.0/16' } }),
      policy('sel-listed', 'from-pods', { podSelector: { matchLabels: { app: 'web' } } }),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'front', namespace: 'sel-listed', labels: { expose: 'external' } },
        spec: { type: 'ClusterIP', ports: [{ port: 80 }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'token', namespace: 'sel-listed' },
        stringData: { a: 'b' },
      },
      {
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'ResourceTransformation',
        metadata: { name: 'expose', namespace: ADMIN },
        specs: {
          transformSpecs: [
            {
              resource: '/v1/Service',
              selectors: { expose: 'external' },
              paths: [
                { path: 'spec.type', value: 'NodePort', type: 'string', operation: 'modify' },
                { path: 'metadata.labels', value: 'site:dr', type: 'keypair', operation: 'modify' },
              ],
            },
          ],
        },
      },
    ]),
  );
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ADMIN, 'remote'));
});

afterAll(async () => {
  await world?.stop();
});

const exists = (path: string) =>
  world.kube.destination.request('GET', path).then(
    () => true,
    (err: { code?: number }) => (err.code === 404 ? false : Promise.reject(err)),
  );

describe('Migration selection and transformation fields', () => {
  it('namespaceSelectors, skipDeletedNamespaces, owner references, CIDR policies, excluded kinds, transformSpecs', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(ADMIN, 'select', {
        clusterPair: 'remote',
        namespaces: ['sel-listed', 'sel-gone'],
        namespaceSelectors: { team: 'blue', dr: 'yes' },
        excludeResourceTypes: ['secret'],
        transformSpecs: ['expose'],
      }),
    );
    const m = await world.waitForMigration(ADMIN, 'select');
    const status = m['status'] as Obj;
    expect(status.reason ?? '').toBe('');
    expect(status.status).toBe('Successful');
    // namespaceSelectors OR-ed (team=blue or dr=yes), joined with the listed one; the missing one skipped.
    expect(await exists('/api/v1/namespaces/sel-blue/configmaps/blue-config')).toBe(true);
    expect(await exists('/api/v1/namespaces/sel-green/configmaps/green-config')).toBe(true);
    expect(await exists('/api/v1/namespaces/sel-red')).toBe(false);
    expect(await exists('/api/v1/namespaces/sel-gone')).toBe(false);
    // An owned object stays behind; a CIDR NetworkPolicy too; Secrets were excluded.
    expect(await exists('/api/v1/namespaces/sel-listed/configmaps/owner')).toBe(true);
    expect(await exists('/api/v1/namespaces/sel-listed/configmaps/owned')).toBe(false);
    expect(await exists('/apis/networking.k8s.io/v1/namespaces/sel-listed/networkpolicies/from-pods')).toBe(
      true,
    );
    expect(await exists('/apis/networking.k8s.io/v1/namespaces/sel-listed/networkpolicies/from-cidr')).toBe(
      false,
    );
    expect(await exists('/api/v1/namespaces/sel-listed/secrets/token')).toBe(false);
    // The ResourceTransformation made the Service a NodePort on the standby only.
    const front = (await world.kube.destination.request(
      'GET',
      '/api/v1/namespaces/sel-listed/services/front',
    )) as Obj;
    expect(front.spec.type).toBe('NodePort');
    expect(front.metadata.labels).toEqual({ expose: 'external', site: 'dr' });
    const source = (await world.kube.source.request(
      'GET',
      '/api/v1/namespaces/sel-listed/services/front',
    )) as Obj;
    expect(source.spec.type).toBe('ClusterIP');
  });

  it('the opposite switches: ignoreOwnerReferencesCheck and includeNetworkPolicyWithCIDR take them', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(ADMIN, 'everything', {
        clusterPair: 'remote',
        namespaces: ['sel-listed'],
        ignoreOwnerReferencesCheck: true,
        includeNetworkPolicyWithCIDR: true,
      }),
    );
    expect(((await world.waitForMigration(ADMIN, 'everything'))['status'] as Obj).status).toBe('Successful');
    expect(await exists('/api/v1/namespaces/sel-listed/configmaps/owned')).toBe(true);
    expect(await exists('/apis/networking.k8s.io/v1/namespaces/sel-listed/networkpolicies/from-cidr')).toBe(
      true,
    );
    expect(await exists('/api/v1/namespaces/sel-listed/secrets/token')).toBe(true);
  });

  it('skipDeletedNamespaces: false fails on a missing namespace, naming it', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(ADMIN, 'strict', {
        clusterPair: 'remote',
        namespaces: ['sel-listed', 'sel-gone'],
        skipDeletedNamespaces: false,
      }),
    );
    const status = (await world.waitForMigration(ADMIN, 'strict'))['status'] as Obj;
    expect(status.status).toBe('Failed');
    expect(status.reason).toBe(
      'spec.namespaces: namespace sel-gone not found on the source (skipDeletedNamespaces is false)',
    );
  });

  it('a transformSpecs entry that names no ResourceTransformation fails the migration, naming it', async () => {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(ADMIN, 'no-transform', {
        clusterPair: 'remote',
        namespaces: ['sel-listed'],
        transformSpecs: ['absent'],
      }),
    );
    const status = (await world.waitForMigration(ADMIN, 'no-transform'))['status'] as Obj;
    expect(status.status).toBe('Failed');
    expect(status.reason).toBe(`spec.transformSpecs[0]: ResourceTransformation ${ADMIN}/absent not found`);
  });
});
