import {
  ApiextensionsV1Api,
  KubeConfig,
  loadAllYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './paths.js';

/**
 * The CRD manifests generated into deploy/crds (by api/), as kubectl would apply them.
 *
 * Parsed with client-node's loadAllYaml on purpose: its typed APIs re-serialize a request body
 * through their models, where `x-kubernetes-preserve-unknown-fields` is the property
 * `xKubernetesPreserveUnknownFields`. A plain parsed object loses such fields silently (the
 * ClusterPair CRD then rejected the seed's kubeconfig); a deserialized model keeps them.
 */
export async function readCrdManifests(
  dir = path.join(repoRoot(), 'deploy', 'crds'),
): Promise<V1CustomResourceDefinition[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /\.ya?ml$/.test(f)).sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const f of files) {
    for (const obj of loadAllYaml(
      await readFile(path.join(dir, f), 'utf8'),
    ) as V1CustomResourceDefinition[]) {
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  return crds;
}

/**
 * Creates or updates every CRD of deploy/crds in the cluster of `kubeconfigPath` and waits until
 * each is Established (served). Returns how many were installed.
 */
export async function installCrds(kubeconfigPath: string, timeoutMs = 30_000): Promise<number> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds = await readCrdManifests();
  for (const body of crds) {
    const name = body.metadata?.name ?? '';
    try {
      const existing = await api.readCustomResourceDefinition({ name });
      body.metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion };
      await api.replaceCustomResourceDefinition({ name, body });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await api.createCustomResourceDefinition({ body });
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const got = await api.readCustomResourceDefinition({ name });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return crds.length;
}
