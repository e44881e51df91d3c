import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import path from 'node:path';
import { harness } from '../harness/context.js';
import { eventually } from '../harness/eventually.js';

// What kube-controller-manager and kube-scheduler do, checked on both clusters of the harness:
// PVs bind to PVCs, namespaces finalize on delete, owner references cascade, Deployments get
// ReplicaSets and Pods, and pods are scheduled (to the node when the cluster has one, else they
// are reported Unschedulable).

function clients(kubeconfigPath: string): { core: CoreV1Api; apps: AppsV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

const gone = async (read: () => Promise<unknown>): Promise<true | undefined> => {
  try {
    await read();
    return undefined;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return true;
    throw err;
  }
};

describe.each(['source', 'destination'])('control plane of cluster %s', (cluster) => {
  const suffix = `${cluster}-${Date.now()}`;
  const ns = `cp-${suffix}`;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  beforeAll(async () => {
    const c = harness().env.clusters[cluster]!;
    ({ core, apps } = clients(c.kubeconfigPath));
    await core.createNamespace({ body: { metadata: { name: ns } } });
    // The service account controller gives every namespace its "default" account; pods need it.
    await eventually('default service account', async () =>
      (await core.readNamespacedServiceAccount({ name: 'default', namespace: ns })).metadata?.uid
        ? true
        : undefined,
    );
  });

  it('runs the control plane', () => {
    expect(harness().env.clusters[cluster]!.controlPlane).toBe(true);
  });

  it('binds a PV to a PVC', async () => {
    const { env } = harness();
    const pv = `pv-${suffix}`;
    await core.createPersistentVolume({
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'ferry-manual',
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: path.join(env.dir, 'volumes', pv), type: 'DirectoryOrCreate' },
        },
      },
    });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: 'ferry-manual',
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const claim = await eventually('PVC Bound', async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns });
      return c.status?.phase === 'Bound' ? c : undefined;
    });
    expect(claim.spec?.volumeName).toBe(pv);
    const vol = await core.readPersistentVolume({ name: pv });
    expect(vol.status?.phase).toBe('Bound');
    expect(vol.spec?.claimRef).toMatchObject({ namespace: ns, name: 'data' });
  });

  it('deletes what an owner owns when the owner is deleted (garbage collector)', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' }, data: { a: '1' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! },
          ],
        },
        data: { b: '2' },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await eventually('dependent collected', () =>
      gone(() => core.readNamespacedConfigMap({ name: 'dependent', namespace: ns })),
    );
  });

  it('gives a Deployment a ReplicaSet and its Pods, and schedules them', async () => {
    const { env } = harness();
    const state = env.clusters[cluster]!;
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'main',
                  // A local image when the cluster has a node; never pulled either way.
                  image: env.images?.busybox ?? 'ferry.local/none:0',
                  imagePullPolicy: 'Never',
                  command: ['sh', '-c', 'echo up; exec sleep 3600'],
                },
              ],
              terminationGracePeriodSeconds: 1,
            },
          },
        },
      },
    });
    const rs = await eventually('ReplicaSet of web', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=web' });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment'));
    });
    expect(rs.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    const pods = await eventually('2 pods of web', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      return list.items.length === 2 ? list.items : undefined;
    });
    for (const p of pods) expect(p.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet' });

    const scheduled = (p: V1Pod): string | undefined => {
      const cond = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
      if (state.node) return cond?.status === 'True' ? p.spec?.nodeName : undefined;
      return cond?.status === 'False' ? cond.reason : undefined;
    };
    const outcomes = await eventually('pods scheduled', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      const got = list.items.map(scheduled);
      return got.length === 2 && got.every(Boolean) ? got : undefined;
    });
    // With a node, the scheduler binds both pods to it; without one it reports why it cannot.
    expect(outcomes).toEqual(
      state.node ? [state.node.name, state.node.name] : ['Unschedulable', 'Unschedulable'],
    );
  });

  it('finalizes a deleted namespace: its content goes, then the namespace', async () => {
    const doomed = `doomed-${suffix}`;
    await core.createNamespace({ body: { metadata: { name: doomed } } });
    await core.createNamespacedConfigMap({
      namespace: doomed,
      body: { metadata: { name: 'c' }, data: { x: 'y' } },
    });
    await core.deleteNamespace({ name: doomed });
    // Without a namespace controller it would stay Terminating forever, holding its content.
    await eventually('namespace gone', () => gone(() => core.readNamespace({ name: doomed })), 60_000);
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });
});
