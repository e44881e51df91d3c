// What applying a migration changes on the standby, decided before anything is written:
//   * each migrated object is created, updated, or left alone when the standby already holds the
//     same content (its resource-hash annotation equals the new one);
//   * with purgeDeletedResources, each standby object that a migration put there (annotated
//     `migrated: "true"`) and that the source no longer has is deleted. ServiceAccounts never
//     are (Stork's rule: the standby may have bound tokens to them), nor anything Ferry did not
//     migrate.
// Order matters to the apiserver: CRDs, then Namespaces, PVs, PVCs, ServiceAccounts, config,
// then workloads, so that what an object refers to exists first.
import { ANNOTATIONS, annotationsOf, type KubeObject } from './objects.js';

export type ApplyAction = 'create' | 'update' | 'unchanged';

export function applyAction(desired: KubeObject, existing: KubeObject | undefined): ApplyAction {
  if (!existing) return 'create';
  const want = annotationsOf(desired)[ANNOTATIONS.resourceHash];
  if (want !== undefined && annotationsOf(existing)[ANNOTATIONS.resourceHash] === want) return 'unchanged';
  return 'update';
}

export function isPurgeable(kind: { group: string; kind: string }, existing: KubeObject): boolean {
  if (kind.group === '' && kind.kind === 'ServiceAccount') return false;
  return annotationsOf(existing)[ANNOTATIONS.migrated] === 'true';
}

/** Standby objects to delete: migrated earlier, absent from the source now. */
export function purgeList<T extends KubeObject>(
  kind: { group: string; kind: string },
  standby: readonly T[],
  sourceNames: ReadonlySet<string>,
): T[] {
  return standby.filter((o) => isPurgeable(kind, o) && !sourceNames.has(String(o.metadata?.name)));
}

const ORDER = [
  'apiextensions.k8s.io/CustomResourceDefinition',
  '/Namespace',
  '/PersistentVolume',
  '/PersistentVolumeClaim',
  '/ServiceAccount',
  'rbac.authorization.k8s.io/Role',
  'rbac.authorization.k8s.io/RoleBinding',
  '/Secret',
  '/ConfigMap',
  '/LimitRange',
  '/ResourceQuota',
  '/Service',
];

/** Sort rank of a kind when applying: the listed kinds first in that order, the rest after. */
export function applyRank(kind: { group: string; kind: string }): number {
  const i = ORDER.indexOf(`${kind.group}/${kind.kind}`);
  return i < 0 ? ORDER.length : i;
}
