// Which volumes of the source a migration replicates, and where each is on the agent.
//
// A PVC is resolved to its PV by `spec.volumeName`, else by a PV whose claimRef names the PVC
// (a pre-bound pair works where no controller has set the phase) and, when it carries a uid,
// this PVC's uid rather than a deleted PVC's of the same name. The PV's data must be a
// directory the source agent serves: a `hostPath` or `local` PV whose path is
// `<agent volumes root>/<volume>`, which is what local-path-provisioner creates when its root
// is the agent's. Anything else is a per-volume failure with the reason.
import path from 'node:path';
import { isPlainObject, nameOf, namespaceOf, type KubeObject } from './objects.js';

export interface VolumeRef {
  namespace: string;
  pvc: string;
  /** The PV's name, when one was found. */
  pv?: string;
  /** The agent's volume name, when the PV is one the agent serves. */
  volume?: string;
  /** Why the volume cannot be migrated. */
  error?: string;
}

/** The volume name the agent serves for `dir`, or null when `dir` is not directly under `root`. */
export function agentVolumeFor(dir: string, volumesRoot: string): string | null {
  const rel = path.relative(path.resolve(volumesRoot), path.resolve(dir));
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep)) return null;
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(rel) ? rel : null;
}

export function pvPath(pv: KubeObject): string | undefined {
  const spec = pv['spec'];
  if (!isPlainObject(spec)) return undefined;
  for (const source of ['hostPath', 'local'] as const) {
    const s = spec[source];
    if (isPlainObject(s) && typeof s['path'] === 'string') return s['path'];
  }
  return undefined;
}

export function resolveVolume(pvc: KubeObject, pvs: readonly KubeObject[], volumesRoot: string): VolumeRef {
  const ref: VolumeRef = { namespace: namespaceOf(pvc), pvc: nameOf(pvc) };
  const spec = isPlainObject(pvc['spec']) ? pvc['spec'] : {};
  const byName =
    typeof spec['volumeName'] === 'string' && spec['volumeName'] ? spec['volumeName'] : undefined;
  // A claimRef with a uid names one PVC: a Released PV still names the deleted PVC it belonged
  // to, whose successor of the same name is not its owner (Kubernetes will not bind them).
  const uid = pvc.metadata?.uid;
  const pv = byName
    ? pvs.find((p) => nameOf(p) === byName)
    : pvs.find((p) => {
        const claim = isPlainObject(p['spec']) ? p['spec']['claimRef'] : undefined;
        return (
          isPlainObject(claim) &&
          claim['name'] === ref.pvc &&
          claim['namespace'] === ref.namespace &&
          (claim['uid'] === undefined || uid === undefined || claim['uid'] === uid)
        );
      });
  if (!pv) {
    ref.error = byName ? `PersistentVolume ${byName} not found` : 'not bound to a PersistentVolume';
    return ref;
  }
  ref.pv = nameOf(pv);
  const dir = pvPath(pv);
  if (dir === undefined) {
    const sources = Object.keys(isPlainObject(pv['spec']) ? pv['spec'] : {}).filter((k) =>
      /^(csi|nfs|iscsi|awsElasticBlockStore|gcePersistentDisk|azureDisk|azureFile|cephfs|rbd|fc|portworxVolume|cinder)$/.test(
        k,
      ),
    );
    ref.error = `PersistentVolume ${ref.pv}: volume source ${sources[0] ?? 'unknown'} is not supported (Ferry replicates hostPath and local volumes under the agent's volume root)`;
    return ref;
  }
  const volume = agentVolumeFor(dir, volumesRoot);
  if (!volume) {
    ref.error = `PersistentVolume ${ref.pv}: path ${dir} is not a volume of the source agent (expected ${path.join(volumesRoot, '<volume>')})`;
    return ref;
  }
  ref.volume = volume;
  return ref;
}
