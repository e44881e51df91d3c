// Ferry's own kinds (stork.libopenstorage.org/v1alpha1) as REST resources, and Events about them.
import { API_GROUP, API_VERSION, kindInfo, type KindName } from '../../api/index.js';
import type { KubeObject, ResourceKind } from '../../resources/objects.js';
import type { KubeEvent } from '../types.js';
import { KINDS, KubeError, type KubeClient } from '../../kube/client.js';

export function storkKind(kind: KindName): ResourceKind {
  const info = kindInfo(kind);
  if (!info) throw new Error(`unknown kind ${kind}`);
  return {
    group: API_GROUP,
    version: API_VERSION,
    kind,
    plural: info.plural,
    namespaced: info.scope === 'Namespaced',
  };
}

/** Records a core/v1 Event on an object, as `kubectl describe` shows them. */
export async function recordEvent(
  kube: KubeClient,
  involved: { kind: string; namespace: string; name: string; uid?: string; apiVersion?: string },
  event: KubeEvent,
  signal?: AbortSignal,
): Promise<void> {
  const now = new Date().toISOString();
  await kube.create(
    KINDS.event,
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
      involvedObject: {
        apiVersion: involved.apiVersion ?? `${API_GROUP}/${API_VERSION}`,
        kind: involved.kind,
        namespace: involved.namespace,
        name: involved.name,
        ...(involved.uid ? { uid: involved.uid } : {}),
      },
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: { component: 'ferry' },
      reportingComponent: 'ferry',
      reportingInstance: 'ferry-worker',
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
    signal,
  );
}

/**
 * Mirrors a workflow's status to its CR's status subresource, then records its Events there;
 * returns the CR as written. A missing CR (deleted, or a workflow started without one) is not an
 * error: nothing to mirror to, and undefined is returned.
 */
export async function mirrorStatus(
  kube: KubeClient,
  kind: KindName,
  ref: { namespace: string; name: string },
  status: unknown,
  events: readonly KubeEvent[],
  signal?: AbortSignal,
): Promise<KubeObject | undefined> {
  let cr: KubeObject;
  try {
    cr = await kube.mergePatch(
      storkKind(kind),
      ref.namespace,
      ref.name,
      { status },
      { subresource: 'status', signal },
    );
  } catch (err) {
    if (err instanceof KubeError && err.notFound) return undefined;
    throw err;
  }
  const uid = cr.metadata?.uid as string | undefined;
  for (const event of events) await recordEvent(kube, { kind, ...ref, uid }, event, signal);
  return cr;
}
