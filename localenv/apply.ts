import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';

/**
 * `kubectl apply --server-side` of a multi-document YAML file to the cluster of `kubeconfigPath`,
 * in file order (so a Namespace precedes what lives in it). Returns `Kind/name` of each object.
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
  for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
    const obj = doc.toJS() as KubernetesObject | null;
    if (!obj?.kind) continue;
    await client.patch(obj, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    applied.push(`${obj.kind}/${obj.metadata?.name ?? ''}`);
  }
  return applied;
}
