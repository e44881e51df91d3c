import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';

/**
 * `kubectl apply --server-side` of a multi-document YAML file to the cluster of `kubeconfigPath`,
 * in file order (so a Namespace precedes what lives in it). Returns `Kind/name` of each object.
 * Documents go through client-node's loadAllYaml so its models round-trip every field (see crds.ts).
 */
export async function applyFile(
  kubeconfigPath: string,
  file: string,
  fieldManager = 'ferry',
): Promise<string[]> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: string[] = [];
  for (const obj of loadAllYaml(await readFile(file, 'utf8')) as Array<KubernetesObject | null>) {
    if (!obj?.kind) continue;
    await client.patch(obj, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    applied.push(`${obj.kind}/${obj.metadata?.name ?? ''}`);
  }
  return applied;
}
