// Reading Ferry's custom resources from a cluster, for the SDK and the CLI. The kubeconfig comes
// from --kubeconfig, then $KUBECONFIG, then ~/.kube/config (client-node's default loading), as
// kubectl does; errors read like kubectl's.

import { CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, type KindInfo } from '../api/index.js';
import { KubeClient } from '../kube/client.js';
import type { ResourceKind } from '../resources/objects.js';

export interface ClusterTarget {
  kubeconfig?: string;
  context?: string;
}

export interface ListOptions {
  /** A namespace for namespaced kinds; default: the context's namespace, else "default". */
  namespace?: string;
  allNamespaces?: boolean;
  names?: string[];
}

export class ClusterError extends Error {}

export function loadKubeConfig(target: ClusterTarget): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const where = target.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new ClusterError(`cannot load kubeconfig ${where}: ${(err as Error).message}`);
  }
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      throw new ClusterError(`context "${target.context}" does not exist in the kubeconfig`);
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new ClusterError('no cluster in the kubeconfig: pass --kubeconfig FILE or set KUBECONFIG');
  }
  return kc;
}

/** The namespace given, else the current context's, else "default" (kubectl's rule). */
export function namespaceOf(kc: KubeConfig, given: string | undefined): string {
  return given ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}

function explain(err: unknown, info: KindInfo, name: string | undefined, server: string): ClusterError {
  const e = err as { code?: number; body?: unknown; message?: string; cause?: { code?: string } };
  if (e.code === 404) {
    return new ClusterError(
      name
        ? `Error from server (NotFound): ${info.plural}.${API_GROUP} "${name}" not found`
        : `the server doesn't have a resource type "${info.plural}" (are Ferry's CRDs installed? kubectl apply -f deploy/crds/)`,
    );
  }
  if (e.code === 401)
    return new ClusterError(`error: You must be logged in to the server (Unauthorized): ${server}`);
  if (e.code === 403)
    return new ClusterError(`Error from server (Forbidden): cannot list ${info.plural}.${API_GROUP}`);
  return new ClusterError(`cannot reach ${server}: ${e.cause?.code ?? e.message ?? String(err)}`);
}

/**
 * Calls `fn`, retrying while the server answers 429 (e.g. "storage is (re)initializing" right
 * after a CRD is established) as kubectl does: after Retry-After seconds (default 1), at most
 * `attempts` times in all.
 */
export async function retryTooManyRequests<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: number; headers?: Record<string, string> };
      if (e.code !== 429 || i >= attempts) throw err;
      const seconds = Number(e.headers?.['retry-after'] ?? 1);
      await new Promise((r) =>
        setTimeout(r, 1000 * (Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) : 1)),
      );
    }
  }
}

/** Objects of one kind as the server returns them (status and metadata included). */
export async function listObjects(
  target: ClusterTarget,
  info: KindInfo,
  opts: ListOptions = {},
): Promise<object[]> {
  return (await listObjectsAt(target, info, opts)).items;
}

/** The list and its resourceVersion (empty for objects got by name), where a watch starts. */
export async function listObjectsAt(
  target: ClusterTarget,
  info: KindInfo,
  opts: ListOptions = {},
): Promise<{ items: object[]; resourceVersion: string }> {
  const kc = loadKubeConfig(target);
  const api = kc.makeApiClient(CustomObjectsApi);
  const server = kc.getCurrentCluster()?.server ?? '';
  const base = { group: API_GROUP, version: API_VERSION, plural: info.plural };
  const namespace = namespaceOf(kc, opts.namespace);
  const namespaced = info.scope === 'Namespaced';
  if (opts.names?.length) {
    const out: object[] = [];
    for (const name of opts.names) {
      try {
        out.push(
          await retryTooManyRequests(() =>
            namespaced
              ? api.getNamespacedCustomObject({ ...base, namespace, name })
              : api.getClusterCustomObject({ ...base, name }),
          ),
        );
      } catch (err) {
        throw explain(err, info, name, server);
      }
    }
    return { items: out, resourceVersion: '' };
  }
  try {
    const list = (await retryTooManyRequests(() =>
      !namespaced
        ? api.listClusterCustomObject(base)
        : opts.allNamespaces
          ? api.listCustomObjectForAllNamespaces(base)
          : api.listNamespacedCustomObject({ ...base, namespace }),
    )) as { items?: object[]; metadata?: { resourceVersion?: string } };
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
  } catch (err) {
    throw explain(err, info, undefined, server);
  }
}

/**
 * Watches objects of one kind from `resourceVersion` (a list's) and calls `onChange` for every
 * added, modified or deleted one; resolves when the server ends the watch, rejects on an error.
 */
export async function watchObjects(
  target: ClusterTarget,
  info: KindInfo,
  opts: ListOptions & { resourceVersion?: string },
  onChange: (type: string, object: object) => void,
): Promise<void> {
  const kc = loadKubeConfig(target);
  const namespace = namespaceOf(kc, opts.namespace);
  const ns = info.scope === 'Namespaced' && !opts.allNamespaces ? `/namespaces/${namespace}` : '';
  const path = `/apis/${API_GROUP}/${API_VERSION}${ns}/${info.plural}`;
  const query: Record<string, string | boolean> = { allowWatchBookmarks: false };
  if (opts.resourceVersion) query['resourceVersion'] = opts.resourceVersion;
  if (opts.names?.length === 1) query['fieldSelector'] = `metadata.name=${opts.names[0]}`;
  await new Promise<void>((resolve, reject) => {
    new Watch(kc)
      .watch(
        path,
        query,
        (type, object: object) => onChange(type, object),
        (err: unknown) =>
          err ? reject(explain(err, info, undefined, kc.getCurrentCluster()?.server ?? '')) : resolve(),
      )
      .catch((err: unknown) => reject(explain(err, info, undefined, kc.getCurrentCluster()?.server ?? '')));
  });
}

/** A REST client for the target cluster, and the namespace to use (flag, context's, "default"). */
export function kubeClient(
  target: ClusterTarget,
  namespace?: string,
): { kube: KubeClient; namespace: string } {
  const kc = loadKubeConfig(target);
  return {
    kube: KubeClient.fromKubeConfig(kc),
    namespace: namespaceOf(kc, namespace),
  };
}

/** One of Ferry's kinds as the REST client addresses it. */
export function resourceKind(info: KindInfo): ResourceKind {
  return {
    group: API_GROUP,
    version: API_VERSION,
    kind: info.kind,
    plural: info.plural,
    namespaced: info.scope === 'Namespaced',
  };
}
