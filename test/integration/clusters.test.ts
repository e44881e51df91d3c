import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { harness } from '../harness/context.js';

function api(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

describe('local clusters (real etcd + kube-apiserver each)', () => {
  const ns = `smoke-${Date.now()}`;

  it('reads back on cluster A what was written there, and cluster B does not have it', async () => {
    const { env } = harness();
    const a = api(env.clusters.source!.kubeconfigPath);
    const b = api(env.clusters.destination!.kubeconfigPath);
    await a.createNamespace({ body: { metadata: { name: ns, labels: { app: 'ferry-smoke' } } } });
    const data = { 'config.yaml': 'replicas: 3\n', unicode: 'ünïcødé ✓' };
    const created = await a.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'settings', labels: { tier: 'db' } }, data },
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);

    const back = await a.readNamespacedConfigMap({ name: 'settings', namespace: ns });
    expect(back.data).toEqual(data);
    expect(back.metadata?.labels).toEqual({ tier: 'db' });
    expect(back.metadata?.uid).toBe(created.metadata?.uid);
    expect((await a.readNamespace({ name: ns })).metadata?.labels).toMatchObject({ app: 'ferry-smoke' });

    await expect(b.readNamespace({ name: ns })).rejects.toMatchObject({ code: 404 });
    await expect(b.readNamespacedConfigMap({ name: 'settings', namespace: ns })).rejects.toMatchObject({
      code: 404,
    });
  });

  it('answers 401 to a wrong token, and to none', async () => {
    const { env } = harness();
    const cluster = env.clusters.source!;
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const user = kc.getCurrentUser()!;
    (user as { token?: string }).token = 'not-the-token';
    await expect(kc.makeApiClient(CoreV1Api).listNamespace()).rejects.toMatchObject({ code: 401 });

    const ca = Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString();
    const https = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`${cluster.server}/api/v1/namespaces`, { ca }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).toBe(401);
  });
});
