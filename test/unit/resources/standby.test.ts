// How an object is rewritten for the standby (STORK-COMPAT.md, "Migrating resources"): table
// tests per kind on the output, the input never touched, and properties of the resource hash
// (blind to the per-migration annotations and to key order, sensitive to labels) and of
// toStandby applied to its own output.
import fc from 'fast-check';
import type { KubeObject } from '../../../resources/objects.js';
import { canonicalJson, resourceHash, toStandby, type StandbyContext } from '../../../resources/standby.js';

const S = 'stork.libopenstorage.org';
const A = {
  migrated: `${S}/migrated`,
  name: `${S}/migrationName`,
  namespace: `${S}/migrationNamespace`,
  time: `${S}/migrationTime`,
  hash: `${S}/resource-hash`,
  replicas: `${S}/migrationReplicas`,
  reclaim: `${S}/reclaimPolicy`,
};

const ctx = (over: Partial<StandbyContext> = {}): StandbyContext => ({
  migrationName: 'mysql-interval-2024-01-02-150405',
  migrationNamespace: 'kube-system',
  migrationTime: '2024-01-02-150405',
  startApplications: false,
  ...over,
});

type Kind = { group: string; kind: string };
const K = {
  deployment: { group: 'apps', kind: 'Deployment' },
  statefulSet: { group: 'apps', kind: 'StatefulSet' },
  replicaSet: { group: 'apps', kind: 'ReplicaSet' },
  daemonSet: { group: 'apps', kind: 'DaemonSet' },
  cronJob: { group: 'batch', kind: 'CronJob' },
  job: { group: 'batch', kind: 'Job' },
  service: { group: '', kind: 'Service' },
  serviceAccount: { group: '', kind: 'ServiceAccount' },
  configMap: { group: '', kind: 'ConfigMap' },
  pv: { group: '', kind: 'PersistentVolume' },
  pvc: { group: '', kind: 'PersistentVolumeClaim' },
  widget: { group: 'example.com', kind: 'Widget' },
} satisfies Record<string, Kind>;

/** toStandby, checking on the way that the input is left exactly as it was. */
function standby(kind: Kind, source: KubeObject, c: StandbyContext = ctx()): KubeObject {
  const before = structuredClone(source);
  const out = toStandby(kind, source, c);
  expect(source).toEqual(before);
  expect(out).not.toBe(source);
  return out;
}

const meta = (o: KubeObject) => o.metadata!;
const ann = (o: KubeObject) => meta(o).annotations ?? {};
const labels = (o: KubeObject) => meta(o).labels ?? {};
const spec = (o: KubeObject) => o['spec'] as Record<string, unknown>;

/** Everything the source's apiserver adds to metadata. */
const sourceMeta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'db',
  uid: '6f1c1f1e-0000-4000-8000-000000000001',
  resourceVersion: '12345',
  generation: 4,
  creationTimestamp: '2024-01-01T00:00:00Z',
  managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
  finalizers: ['example.com/keep'],
  ownerReferences: [{ apiVersion: 'v1', kind: 'Thing', name: 'owner', uid: 'u' }],
  selfLink: '/api/v1/x',
  labels: { app: 'mysql' },
  annotations: {
    team: 'data',
    'kubectl.kubernetes.io/last-applied-configuration': '{"big":"json"}',
    'deployment.kubernetes.io/revision': '3',
  },
  ...extra,
});

const deployment = (replicas?: number, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: sourceMeta('mysql', { annotations: { team: 'data', ...annotations } }),
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    selector: { matchLabels: { app: 'mysql' } },
    template: {
      metadata: { labels: { app: 'mysql' } },
      spec: { containers: [{ name: 'm', image: 'mysql:8' }] },
    },
  },
  status: { replicas: 3, readyReplicas: 3 },
});

describe('toStandby: metadata and migration annotations', () => {
  it('keeps only name, namespace, labels and annotations; drops status', () => {
    const out = standby(K.configMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: sourceMeta('settings'),
      data: { a: '1' },
      status: { x: 1 },
    });
    expect(Object.keys(meta(out)).sort()).toEqual(['annotations', 'labels', 'name', 'namespace']);
    expect(meta(out).name).toBe('settings');
    expect(meta(out).namespace).toBe('db');
    expect(labels(out)).toEqual({ app: 'mysql' });
    expect(out['status']).toBeUndefined();
    expect(out['data']).toEqual({ a: '1' });
    expect(out.apiVersion).toBe('v1');
    expect(out.kind).toBe('ConfigMap');
  });

  it('drops the source-only annotations and keeps the user ones', () => {
    const out = standby(K.pvc, {
      metadata: {
        name: 'data',
        namespace: 'db',
        annotations: {
          team: 'data',
          'kubectl.kubernetes.io/last-applied-configuration': '{}',
          'pv.kubernetes.io/bind-completed': 'yes',
          'pv.kubernetes.io/bound-by-controller': 'yes',
          'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path',
          'volume.kubernetes.io/selected-node': 'node-1',
          'volume.beta.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
          'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
        },
      },
      spec: {
        volumeName: 'pvc-1',
        dataSource: { kind: 'VolumeSnapshot', name: 's' },
        storageClassName: 'local-path',
      },
    });
    expect(Object.keys(ann(out)).sort()).toEqual(
      ['team', A.migrated, A.name, A.namespace, A.hash, A.time].sort(),
    );
    expect(spec(out)).toEqual({ volumeName: 'pvc-1', storageClassName: 'local-path' });
  });

  it('annotates every object with the migration, and a hash of what is applied', () => {
    const out = standby(K.widget, {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w' },
      spec: {},
    });
    expect(ann(out)).toEqual({
      [A.migrated]: 'true',
      [A.name]: 'mysql-interval-2024-01-02-150405',
      [A.namespace]: 'kube-system',
      [A.time]: '2024-01-02-150405',
      [A.hash]: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(ann(out)[A.hash]).toBe(resourceHash(out));
    expect(meta(out).labels).toBeUndefined();
  });

  it('creates metadata when the source has none', () => {
    const out = standby(K.configMap, { apiVersion: 'v1', kind: 'ConfigMap', data: {} });
    expect(ann(out)[A.migrated]).toBe('true');
    expect(ann(out)[A.hash]).toBe(resourceHash(out));
  });
});

describe('toStandby: Services', () => {
  const service = (s: Record<string, unknown>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'mysql', namespace: 'db' },
    spec: s,
    status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    [
      'ClusterIP: address fields dropped',
      { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 3306 }] },
      { type: 'ClusterIP', ports: [{ port: 3306 }] },
    ],
    [
      'headless: clusterIP None kept',
      { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 3306 }], selector: { app: 'mysql' } },
      { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 3306 }], selector: { app: 'mysql' } },
    ],
    [
      'NodePort: node ports dropped',
      {
        type: 'NodePort',
        clusterIP: '10.96.0.11',
        ports: [
          { name: 'a', port: 80, nodePort: 30080 },
          { name: 'b', port: 443, nodePort: 30443 },
        ],
      },
      {
        type: 'NodePort',
        ports: [
          { name: 'a', port: 80 },
          { name: 'b', port: 443 },
        ],
      },
    ],
    [
      'LoadBalancer: loadBalancerIP and healthCheckNodePort dropped',
      {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.12',
        clusterIPs: ['10.96.0.12', 'fd00::12'],
        loadBalancerIP: '1.2.3.4',
        healthCheckNodePort: 31234,
        externalTrafficPolicy: 'Local',
        ports: [{ port: 80, nodePort: 30081 }],
      },
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }] },
    ],
  ])('%s', (_name, s, want) => {
    const out = standby(K.service, service(s));
    expect(spec(out)).toEqual(want);
    expect(out['status']).toBeUndefined();
    expect(ann(out)[A.hash]).toBe(resourceHash(out));
  });
});

describe('toStandby: scaled workloads', () => {
  it.each<[string, number | undefined, Record<string, string>, string]>([
    ['3 replicas', 3, {}, '3'],
    ['1 replica', 1, {}, '1'],
    ['missing replicas means 1', undefined, {}, '1'],
    ['0 replicas, no annotation', 0, {}, '0'],
    ['0 replicas with the annotation keeps its value', 0, { [A.replicas]: '5' }, '5'],
    ['4 replicas with a stale annotation takes the count', 4, { [A.replicas]: '5' }, '4'],
  ])('Deployment, %s -> replicas 0, migrationReplicas %p', (_name, replicas, annotations, want) => {
    const out = standby(K.deployment, deployment(replicas, annotations));
    expect(spec(out)['replicas']).toBe(0);
    expect(ann(out)[A.replicas]).toBe(want);
    expect(labels(out)).toEqual({ app: 'mysql', [A.migrated]: 'true' });
    expect(ann(out)[A.migrated]).toBe('true');
    expect(ann(out)[A.hash]).toBe(resourceHash(out));
    expect(spec(out)['template']).toEqual(spec(deployment())['template']);
  });

  it.each([K.statefulSet, K.replicaSet])('$kind is scaled the same way', (kind) => {
    const source: KubeObject = {
      metadata: { name: 'x', namespace: 'db' },
      spec: { replicas: 2, serviceName: 's' },
    };
    const out = standby(kind, source);
    expect(spec(out)).toEqual({ replicas: 0, serviceName: 's' });
    expect(ann(out)[A.replicas]).toBe('2');
    expect(labels(out)[A.migrated]).toBe('true');
  });

  it('adds the migrated label to an object without labels', () => {
    const out = standby(K.statefulSet, { metadata: { name: 'x' }, spec: { replicas: 2 } });
    expect(labels(out)).toEqual({ [A.migrated]: 'true' });
  });

  it.each([K.deployment, K.statefulSet, K.replicaSet])(
    'startApplications leaves $kind replicas and labels alone',
    (kind) => {
      const out = standby(kind, deployment(3), ctx({ startApplications: true }));
      expect(spec(out)['replicas']).toBe(3);
      expect(ann(out)[A.replicas]).toBeUndefined();
      expect(labels(out)).toEqual({ app: 'mysql' });
      expect(ann(out)[A.migrated]).toBe('true');
    },
  );

  it('a kind named Deployment in another group is not scaled', () => {
    const out = standby({ group: 'example.com', kind: 'Deployment' }, deployment(3));
    expect(spec(out)['replicas']).toBe(3);
    expect(ann(out)[A.replicas]).toBeUndefined();
  });

  it('DaemonSets are unchanged but for the migration annotations', () => {
    const source: KubeObject = { metadata: { name: 'agent', namespace: 'db' }, spec: { template: {} } };
    const out = standby(K.daemonSet, source);
    expect(spec(out)).toEqual({ template: {} });
    expect(ann(out)[A.replicas]).toBeUndefined();
    expect(meta(out).labels).toBeUndefined();
  });

  it.each<[string, boolean, unknown, unknown]>([
    ['CronJob suspended', false, false, true],
    ['CronJob without suspend suspended', false, undefined, true],
    ['CronJob, startApplications: suspend left alone', true, false, false],
    ['CronJob, startApplications: missing suspend left missing', true, undefined, undefined],
  ])('%s', (_name, startApplications, suspend, want) => {
    const source: KubeObject = {
      metadata: { name: 'nightly', namespace: 'db' },
      spec: { schedule: '0 1 * * *', ...(suspend === undefined ? {} : { suspend }), jobTemplate: {} },
    };
    const out = standby(K.cronJob, source, ctx({ startApplications }));
    expect(spec(out)['suspend']).toBe(want);
    expect(spec(out)['schedule']).toBe('0 1 * * *');
  });
});

describe('toStandby: Jobs, ServiceAccounts', () => {
  it('a Job loses its selector and the controller-uid labels of its template', () => {
    const source: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace: 'db', labels: { 'controller-uid': 'u1', app: 'x' } },
      spec: {
        manualSelector: false,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u1' } },
        template: {
          metadata: {
            labels: {
              app: 'x',
              'controller-uid': 'u1',
              'batch.kubernetes.io/controller-uid': 'u1',
              'job-name': 'once',
              'batch.kubernetes.io/job-name': 'once',
            },
          },
          spec: { restartPolicy: 'Never' },
        },
      },
    };
    const out = standby(K.job, source);
    expect(spec(out)).toEqual({
      template: { metadata: { labels: { app: 'x' } }, spec: { restartPolicy: 'Never' } },
    });
  });

  it('a Job without template labels keeps its template', () => {
    const out = standby(K.job, { metadata: { name: 'j' }, spec: { selector: {}, template: { spec: {} } } });
    expect(spec(out)).toEqual({ template: { spec: {} } });
  });

  it('a ServiceAccount loses its secrets and keeps imagePullSecrets', () => {
    const source: KubeObject = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'builder', namespace: 'db' },
      secrets: [{ name: 'builder-token-abcde' }],
      imagePullSecrets: [{ name: 'registry' }],
    };
    const out = standby(K.serviceAccount, source);
    expect(out['secrets']).toBeUndefined();
    expect(out['imagePullSecrets']).toEqual([{ name: 'registry' }]);
    expect(ann(out)[A.hash]).toBe(resourceHash(out));
  });
});

describe('toStandby: PersistentVolumes', () => {
  const pv = (s: Record<string, unknown>, annotations: Record<string, string> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: 'pvc-1',
      uid: 'u',
      resourceVersion: '9',
      finalizers: ['kubernetes.io/pv-protection'],
      annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path', ...annotations },
    },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'local-path',
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: 'db',
        name: 'data',
        uid: 'claim-uid',
        resourceVersion: '77',
      },
      ...s,
    },
    status: { phase: 'Bound' },
  });
  const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'db', name: 'data' };
  const paths = new Map([['pvc-1', '/standby/volumes/pvc-1']]);

  it.each<[string, string | undefined, string]>([
    ['Delete', 'Delete', 'Delete'],
    ['Recycle', 'Recycle', 'Recycle'],
    ['Retain', 'Retain', 'Retain'],
    ['missing (the apiserver default, Delete)', undefined, 'Delete'],
  ])('reclaim policy %s -> Retain, original in the annotation', (_name, policy, want) => {
    const out = standby(
      K.pv,
      pv({ hostPath: { path: '/src/pvc-1' }, ...(policy ? { persistentVolumeReclaimPolicy: policy } : {}) }),
    );
    expect(spec(out)['persistentVolumeReclaimPolicy']).toBe('Retain');
    expect(ann(out)[A.reclaim]).toBe(want);
  });

  it('keeps an earlier migration original reclaim policy', () => {
    const out = standby(K.pv, pv({ persistentVolumeReclaimPolicy: 'Retain' }, { [A.reclaim]: 'Delete' }));
    expect(ann(out)[A.reclaim]).toBe('Delete');
  });

  it('cuts claimRef to the claim namespace and name, has no resource-hash, drops status', () => {
    const out = standby(
      K.pv,
      pv({ persistentVolumeReclaimPolicy: 'Delete', hostPath: { path: '/src/pvc-1' } }),
    );
    expect(spec(out)['claimRef']).toEqual(claim);
    expect(ann(out)[A.hash]).toBeUndefined();
    expect(ann(out)).toEqual({
      [A.reclaim]: 'Delete',
      [A.migrated]: 'true',
      [A.name]: 'mysql-interval-2024-01-02-150405',
      [A.namespace]: 'kube-system',
      [A.time]: '2024-01-02-150405',
    });
    expect(Object.keys(meta(out)).sort()).toEqual(['annotations', 'name']);
    expect(out['status']).toBeUndefined();
    expect(spec(out)['storageClassName']).toBe('local-path');
  });

  it('points a hostPath PV at its standby path, keeping the hostPath type', () => {
    const out = standby(
      K.pv,
      pv({ hostPath: { path: '/src/volumes/pvc-1', type: 'DirectoryOrCreate' } }),
      ctx({ volumePaths: paths }),
    );
    expect(spec(out)['hostPath']).toEqual({ path: '/standby/volumes/pvc-1', type: 'DirectoryOrCreate' });
  });

  it('leaves a hostPath PV path alone when its volume was not replicated', () => {
    const out = standby(
      K.pv,
      pv({ hostPath: { path: '/src/volumes/pvc-1' } }),
      ctx({ volumePaths: new Map([['other', '/x']]) }),
    );
    expect(spec(out)['hostPath']).toEqual({ path: '/src/volumes/pvc-1' });
  });

  it('turns a local PV into a hostPath one without nodeAffinity', () => {
    const out = standby(
      K.pv,
      pv({
        local: { path: '/src/volumes/pvc-1', fsType: 'ext4' },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['src-node'] }] },
            ],
          },
        },
      }),
      ctx({ volumePaths: paths }),
    );
    expect(spec(out)['hostPath']).toEqual({ path: '/standby/volumes/pvc-1', type: 'DirectoryOrCreate' });
    expect(spec(out)['local']).toBeUndefined();
    expect(spec(out)['nodeAffinity']).toBeUndefined();
    expect(spec(out)['claimRef']).toEqual(claim);
  });
});

describe('toStandby: never changes its input', () => {
  // standby() asserts this on every case above; here the same over generated objects and kinds.
  it('whatever the kind and object', () => {
    fc.assert(
      fc.property(anyKind(), kubeObject(), fc.boolean(), (kind, o, startApplications) => {
        standby(kind, o, ctx({ startApplications, volumePaths: new Map([['obj', '/standby/obj']]) }));
      }),
      { numRuns: 300 },
    );
  });
});

// --- generators -------------------------------------------------------------------------------

const key = fc.constantFrom('a', 'b', 'c', 'app', 'example.com/x', 'zz', 'k8s.io/y');
const leaf = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), fc.constant(null));
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
})).value;
const stringMap = fc.dictionary(key, fc.string({ maxLength: 6 }), { maxKeys: 4 });

function kubeObject(): fc.Arbitrary<KubeObject> {
  return fc
    .record({
      labels: stringMap,
      annotations: stringMap,
      replicas: fc.option(fc.nat(5), { nil: undefined }),
      extra: fc.dictionary(key, json, { maxKeys: 3 }),
      hostPath: fc.boolean(),
    })
    .map(({ labels, annotations, replicas, extra, hostPath }) => ({
      apiVersion: 'v1',
      kind: 'Thing',
      metadata: { name: 'obj', namespace: 'ns', uid: 'u', labels, annotations },
      spec: {
        ...extra,
        ...(replicas === undefined ? {} : { replicas }),
        ...(hostPath
          ? { hostPath: { path: '/src/obj' } }
          : { local: { path: '/src/obj' }, nodeAffinity: {} }),
        ports: [{ port: 80, nodePort: 30080 }],
        clusterIP: '10.0.0.1',
        claimRef: { namespace: 'ns', name: 'c', uid: 'x' },
        template: { metadata: { labels: { 'controller-uid': 'u', app: 'a' } } },
      },
      secrets: [{ name: 's' }],
      status: { ok: true },
    }));
}

function anyKind(): fc.Arbitrary<Kind> {
  return fc.constantFrom<Kind>(...Object.values(K), { group: '', kind: 'Namespace' });
}

/** A copy of `v` with every object's keys in a shuffled order. */
function shuffled(v: unknown, seed: number): unknown {
  if (Array.isArray(v)) return v.map((x, i) => shuffled(x, seed + i));
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v);
    const order = entries
      .map((e, i) => ({ e, r: Math.sin(seed * 9301 + i * 49297) }))
      .sort((x, y) => x.r - y.r);
    return Object.fromEntries(order.map(({ e: [k, x] }, i) => [k, shuffled(x, seed + i + 1)]));
  }
  return v;
}

describe('resourceHash and canonicalJson: properties', () => {
  it('canonicalJson is JSON of the same value', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(JSON.parse(canonicalJson(v))).toEqual(v);
      }),
    );
  });

  it('canonicalJson and resourceHash do not depend on key order', () => {
    fc.assert(
      fc.property(kubeObject(), fc.integer({ min: 1, max: 1000 }), (o, seed) => {
        const other = shuffled(o, seed) as KubeObject;
        expect(other).toEqual(o);
        expect(canonicalJson(other)).toBe(canonicalJson(o));
        expect(resourceHash(other)).toBe(resourceHash(o));
      }),
    );
  });

  it('ignores the migrationName, migrationTime and resource-hash annotations', () => {
    fc.assert(
      fc.property(
        kubeObject(),
        fc
          .subarray([A.name, A.time, A.hash])
          .chain((keys) =>
            fc
              .tuple(...keys.map((k) => fc.string().map((v) => [k, v] as const)))
              .map((e) => Object.fromEntries(e)),
          ),
        (o, perMigration) => {
          const withThem = structuredClone(o);
          withThem.metadata!.annotations = { ...withThem.metadata!.annotations, ...perMigration };
          expect(resourceHash(withThem)).toBe(resourceHash(o));
        },
      ),
    );
  });

  it('does not ignore the other annotations', () => {
    fc.assert(
      fc.property(
        kubeObject(),
        fc.constantFrom(A.migrated, A.namespace, A.replicas, 'team'),
        fc.string(),
        (o, k, v) => {
          fc.pre(o.metadata!.annotations![k] !== v);
          const changed = structuredClone(o);
          changed.metadata!.annotations![k] = v;
          expect(resourceHash(changed)).not.toBe(resourceHash(o));
        },
      ),
    );
  });

  it('changes when any label value changes, or a label is added', () => {
    fc.assert(
      fc.property(kubeObject(), key, fc.string({ maxLength: 6 }), (o, k, v) => {
        fc.pre(o.metadata!.labels![k] !== v);
        const changed = structuredClone(o);
        changed.metadata!.labels![k] = v;
        expect(resourceHash(changed)).not.toBe(resourceHash(o));
      }),
    );
  });

  it('does not change its input', () => {
    fc.assert(
      fc.property(kubeObject(), (o) => {
        const withHash = structuredClone(o);
        withHash.metadata!.annotations![A.hash] = 'h';
        const before = structuredClone(withHash);
        resourceHash(withHash);
        expect(withHash).toEqual(before);
      }),
    );
  });
});

describe('toStandby applied to its own output', () => {
  it('gives the same resource-hash (and the same object)', () => {
    fc.assert(
      fc.property(anyKind(), kubeObject(), fc.boolean(), (kind, o, startApplications) => {
        const c = ctx({ startApplications, volumePaths: new Map([['obj', '/standby/obj']]) });
        const once = toStandby(kind, o, c);
        const twice = toStandby(kind, once, c);
        expect(ann(twice)[A.hash]).toBe(ann(once)[A.hash]);
        expect(twice).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same resource-hash under another migration name and time', () => {
    fc.assert(
      fc.property(anyKind(), kubeObject(), (kind, o) => {
        fc.pre(kind.kind !== 'PersistentVolume');
        const first = toStandby(kind, o, ctx());
        const next = toStandby(kind, o, ctx({ migrationName: 'next', migrationTime: '2024-01-03-000000' }));
        expect(ann(next)[A.hash]).toBe(ann(first)[A.hash]);
        expect(ann(next)[A.name]).toBe('next');
      }),
    );
  });

  it('a scaled workload keeps its original replica count through any number of migrations', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
        fc.nat(4),
        (replicas, rounds) => {
          let o = deployment(replicas);
          for (let i = 0; i <= rounds; i++) o = toStandby(K.deployment, o, ctx());
          expect(spec(o)['replicas']).toBe(0);
          expect(ann(o)[A.replicas]).toBe(String(replicas ?? 1));
        },
      ),
    );
  });
});
