// Whether a migration's apps run on the standby (they were activated there), read from what the
// standby holds. A migration leaves every Deployment, StatefulSet and ReplicaSet it scaled down
// at 0 replicas with the source's count in `migrationReplicas`; `storkctl activate` scales them
// back to that count. So a migrated workload (the annotation present, not owned by another
// object) with replicas > 0 is an activated app. With `startApplications` a migration writes no
// annotation and nothing here counts as activated: such apps run on the standby by design.
// CronJobs are not looked at: a `startApplications` migration leaves them running as well, so
// they cannot tell an activation from a normal migration.
import { ANNOTATIONS, annotationsOf, isPlainObject, type KubeObject, type ResourceKind } from './objects.js';

/** The workload kinds a migration scales to 0 (and activate scales back up). */
export const SCALED_KINDS = {
  deployment: { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  statefulset: {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
  },
  replicaset: { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true },
} as const satisfies Record<string, ResourceKind>;

/** One line per migrated workload of `objects` (of kind `kind`) that runs: `<kind> <ns>/<name> runs N replicas`. */
export function runningMigratedWorkloads(kind: string, objects: readonly KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if ((o.metadata?.ownerReferences ?? []).length > 0) continue;
    if (annotationsOf(o)[ANNOTATIONS.migrationReplicas] === undefined) continue;
    const spec = isPlainObject(o['spec']) ? o['spec'] : {};
    // The API server defaults replicas to 1.
    const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
    if (replicas > 0)
      out.push(
        `${kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''} runs ${replicas} replica${replicas === 1 ? '' : 's'}`,
      );
  }
  return out.sort();
}
