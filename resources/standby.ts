// How an object is rewritten for the standby cluster (Stork's rules, ../shared/STORK-COMPAT.md):
//
//   * metadata keeps name, namespace, labels and annotations; status goes;
//   * Services lose clusterIP (unless headless), clusterIPs, loadBalancerIP, and node ports, which
//     would collide on the standby (Stork keeps them; Ferry lets the standby assign its own);
//   * Deployments, StatefulSets and ReplicaSets are scaled to 0 (unless startApplications) with the
//     original count in `migrationReplicas`; CronJobs are suspended;
//   * PersistentVolumes point at the standby's copy (the path the destination agent promotes to),
//     keep their claim by name only, and are Retain, with the original policy in an annotation;
//   * PVCs keep their volumeName and lose the binding annotations of the source;
//   * every object is annotated with the migration's name, namespace and time, and (except PVs)
//     a hash of what was applied, so an unchanged object is not rewritten.
import { createHash } from 'node:crypto';
import { ANNOTATIONS, clone, isPlainObject, type KubeObject, type ResourceKind } from './objects.js';

export interface StandbyContext {
  migrationName: string;
  migrationNamespace: string;
  /** `2006-01-02-150405` in UTC, Stork's migrationTime format. */
  migrationTime: string;
  startApplications: boolean;
  /** PV name -> where its data lives on the standby, for PVs whose volume was replicated. */
  volumePaths?: ReadonlyMap<string, string>;
}

const SCALED = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/ReplicaSet']);
const KEPT_METADATA = ['name', 'namespace', 'labels', 'annotations'] as const;
/** Annotations that tie an object to the source cluster's state. */
const SOURCE_ONLY_ANNOTATIONS = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'pv.kubernetes.io/provisioned-by',
  'volume.kubernetes.io/selected-node',
  'volume.beta.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/storage-provisioner',
  'deployment.kubernetes.io/revision',
];

export function toStandby(
  kind: Pick<ResourceKind, 'group' | 'kind'>,
  source: KubeObject,
  ctx: StandbyContext,
): KubeObject {
  const o = cutMetadata(source);
  delete o['status'];
  const key = `${kind.group}/${kind.kind}`;
  const spec = isPlainObject(o['spec']) ? o['spec'] : undefined;
  const annotations = (o.metadata!.annotations ??= {});
  const labels = () => (o.metadata!.labels ??= {});

  if (key === '/Service' && spec) standbyService(spec);
  if (SCALED.has(key) && spec && !ctx.startApplications) {
    const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
    const previous = annotations[ANNOTATIONS.migrationReplicas];
    // An object already scaled to 0 that carries the annotation was scaled down by a migration
    // (or deactivate): its real count is the annotation's.
    annotations[ANNOTATIONS.migrationReplicas] =
      replicas === 0 && previous !== undefined ? previous : String(replicas);
    spec['replicas'] = 0;
    labels()[ANNOTATIONS.migrated] = 'true';
  }
  if (key === 'batch/CronJob' && spec && !ctx.startApplications) spec['suspend'] = true;
  if (key === 'batch/Job' && spec) standbyJob(spec);
  if (key === '/ServiceAccount') delete o['secrets'];
  if (key === '/PersistentVolume' && spec) standbyVolume(o, spec, ctx);
  if (key === '/PersistentVolumeClaim' && spec) delete spec['dataSource'];

  annotations[ANNOTATIONS.migrated] = 'true';
  annotations[ANNOTATIONS.migrationName] = ctx.migrationName;
  annotations[ANNOTATIONS.migrationNamespace] = ctx.migrationNamespace;
  if (key !== '/PersistentVolume') annotations[ANNOTATIONS.resourceHash] = resourceHash(o);
  annotations[ANNOTATIONS.migrationTime] = ctx.migrationTime;
  return o;
}

/**
 * A hash of what is applied, blind to the annotations that change every migration: two
 * migrations of an unchanged object give the same hash, so the second does not rewrite it.
 */
export function resourceHash(o: KubeObject): string {
  const copy = clone(o);
  const a = copy.metadata?.annotations;
  if (a) {
    delete a[ANNOTATIONS.migrationName];
    delete a[ANNOTATIONS.migrationTime];
    delete a[ANNOTATIONS.resourceHash];
  }
  return createHash('sha256').update(canonicalJson(copy)).digest('hex').slice(0, 32);
}

/** JSON with object keys sorted, so equal objects hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function cutMetadata(source: KubeObject): KubeObject {
  const o = clone(source);
  const meta = o.metadata ?? {};
  const kept: Record<string, unknown> = {};
  for (const k of KEPT_METADATA) if (meta[k] !== undefined) kept[k] = meta[k];
  o.metadata = kept;
  const annotations = o.metadata.annotations;
  if (annotations) for (const a of SOURCE_ONLY_ANNOTATIONS) delete annotations[a];
  return o;
}

function standbyService(spec: Record<string, unknown>): void {
  if (spec['clusterIP'] !== 'None') {
    delete spec['clusterIP'];
    delete spec['clusterIPs'];
  }
  delete spec['loadBalancerIP'];
  delete spec['healthCheckNodePort'];
  const ports = spec['ports'];
  if (Array.isArray(ports)) for (const p of ports) if (isPlainObject(p)) delete p['nodePort'];
}

/** A Job's selector and pod labels name the source's controller uid; the standby makes its own. */
function standbyJob(spec: Record<string, unknown>): void {
  delete spec['selector'];
  delete spec['manualSelector'];
  const template = spec['template'];
  const labels =
    isPlainObject(template) && isPlainObject(template['metadata'])
      ? template['metadata']['labels']
      : undefined;
  if (isPlainObject(labels)) {
    for (const l of [
      'controller-uid',
      'batch.kubernetes.io/controller-uid',
      'job-name',
      'batch.kubernetes.io/job-name',
    ])
      delete labels[l];
  }
}

function standbyVolume(o: KubeObject, spec: Record<string, unknown>, ctx: StandbyContext): void {
  const annotations = o.metadata!.annotations!;
  const policy =
    typeof spec['persistentVolumeReclaimPolicy'] === 'string'
      ? spec['persistentVolumeReclaimPolicy']
      : 'Delete';
  annotations[ANNOTATIONS.reclaimPolicy] = annotations[ANNOTATIONS.reclaimPolicy] ?? policy;
  spec['persistentVolumeReclaimPolicy'] = 'Retain';
  const claim = spec['claimRef'];
  if (isPlainObject(claim)) {
    spec['claimRef'] = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      namespace: claim['namespace'],
      name: claim['name'],
    };
  }
  const target = ctx.volumePaths?.get(String(o.metadata!.name));
  if (target === undefined) return;
  if (isPlainObject(spec['hostPath'])) spec['hostPath'] = { ...spec['hostPath'], path: target };
  if (isPlainObject(spec['local'])) {
    // A local PV is pinned to a source node by name; the standby's nodes have other names.
    spec['hostPath'] = { path: target, type: 'DirectoryOrCreate' };
    delete spec['local'];
    delete spec['nodeAffinity'];
  }
}
