import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyFile } from '../../localenv/apply.js';
import { repoRoot } from '../../localenv/paths.js';
import { harness } from '../harness/context.js';

describe('applyFile (server-side apply of a YAML file)', () => {
  it('applies the sample app in order, and every field of the Deployment survives', async () => {
    const { env } = harness();
    const file = path.join(repoRoot(), 'deploy', 'samples', 'mysql.yaml');
    const applied = await applyFile(env.clusters.destination!.kubeconfigPath, file);
    expect(applied).toEqual([
      'Namespace/mysql',
      'Secret/mysql-credentials',
      'ConfigMap/mysql-config',
      'PersistentVolumeClaim/mysql-data',
      'Service/mysql',
      'Deployment/mysql',
    ]);
    const written = parseAllDocuments(await readFile(file, 'utf8'))
      .map((d) => d.toJS())
      .find((o) => o.kind === 'Deployment');
    const kc = new KubeConfig();
    kc.loadFromFile(env.clusters.destination!.kubeconfigPath);
    const got = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'mysql', namespace: 'mysql' });
    expect(got.spec?.replicas).toBe(1);
    expect(got.spec?.template.spec?.volumes).toMatchObject(written.spec.template.spec.volumes);
    // toMatchObject: the server adds its defaults (defaultMode: 420); what was written must all be there.
    const container = got.spec?.template.spec?.containers[0];
    expect(container?.envFrom).toMatchObject(written.spec.template.spec.containers[0].envFrom);
    expect(container?.volumeMounts).toMatchObject(written.spec.template.spec.containers[0].volumeMounts);

    // Applying again is a no-op, not an error.
    expect(await applyFile(env.clusters.destination!.kubeconfigPath, file)).toHaveLength(6);
  });
});
