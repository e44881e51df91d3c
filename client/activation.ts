// What `storkctl activate|deactivate migrations` changes on the standby, decided from the objects
// read there and what the destination agent holds, before anything is written (pure: the command
// in cli/commands/activate.ts reads, calls these, then writes).
//
//   * Volumes (activate only): every PVC bound to a PV annotated `migrated: "true"` whose hostPath
//     is `<agent volume root>/<volume>` needs that volume promoted: skipped when the agent's
//     promotion record says the path holds the latest restore point already; refused when the
//     agent holds no restore point of it. A path holding anything else (a directory the kubelet
//     made, the old active side's data on failback, an older promotion) is replaced, the old
//     contents moved aside by the agent, unless a running pod mounts the claim: then the
//     activation is refused. Any refusal stops the whole activation before a single change.
//   * Workloads: Deployments, StatefulSets and ReplicaSets not owned by another object that carry
//     `migrationReplicas` get that count (activate) or 0 (deactivate); CronJobs annotated
//     `migrated: "true"` get `suspend: false` (activate) or true (deactivate). An object already
//     so is left alone and reported as unchanged, so a second run changes nothing.
//   * MigrationSchedules whose template lists an activated namespace get
//     `status.applicationActivated` true (activate) or false (deactivate), as Stork does.
import {
  ANNOTATIONS,
  annotationsOf,
  isPlainObject,
  type KubeObject,
  type ResourceKind,
} from '../resources/objects.js';
import { SCALED_KINDS } from '../resources/activated.js';

export type Direction = 'activate' | 'deactivate';

/** A migrated PVC's volume on the standby. */
export interface MigratedVolume {
  namespace: string;
  pvc: string;
  pv: string;
  /** The agent's volume name: the last element of the PV's hostPath. */
  volume: string;
  path: string;
}

/**
 * Volumes of the migrated PVs bound to `pvcs`. `volumeRoot` is the agent's `<dataRoot>/volumes`;
 * a migrated PV elsewhere is not the agent's and comes back as a warning, as does every one when
 * no agent was given (`volumeRoot` undefined).
 */
export function migratedVolumes(
  pvcs: readonly KubeObject[],
  pvs: readonly KubeObject[],
  volumeRoot: string | undefined,
): { volumes: MigratedVolume[]; warnings: string[] } {
  const byName = new Map(pvs.map((pv) => [pv.metadata?.name ?? '', pv]));
  const root = volumeRoot?.replace(/\/+$/, '');
  const volumes: MigratedVolume[] = [];
  const warnings: string[] = [];
  for (const pvc of sortByKey(pvcs)) {
    const spec = isPlainObject(pvc['spec']) ? pvc['spec'] : {};
    const pvName = typeof spec['volumeName'] === 'string' ? spec['volumeName'] : '';
    const pv = pvName ? byName.get(pvName) : undefined;
    if (!pv || annotationsOf(pv)[ANNOTATIONS.migrated] !== 'true') continue;
    const namespace = pvc.metadata?.namespace ?? '';
    const name = pvc.metadata?.name ?? '';
    const pvSpec = isPlainObject(pv['spec']) ? pv['spec'] : {};
    const hostPath = isPlainObject(pvSpec['hostPath']) ? pvSpec['hostPath']['path'] : undefined;
    const path = typeof hostPath === 'string' ? hostPath.replace(/\/+$/, '') : '';
    const slash = path.lastIndexOf('/');
    if (root === undefined) {
      warnings.push(
        `pvc ${namespace}/${name}: volume of pv ${pvName} not promoted: no agent given (--agent-url or FERRY_AGENT_URL)`,
      );
      continue;
    }
    if (!path || path.slice(0, slash) !== root || slash === path.length - 1) {
      warnings.push(
        `pvc ${namespace}/${name}: pv ${pvName} is not a volume of the agent (${path ? `hostPath ${path}` : 'no hostPath'}, volume root ${root}); not promoted`,
      );
      continue;
    }
    volumes.push({ namespace, pvc: name, pv: pvName, volume: path.slice(slash + 1), path });
  }
  return { volumes, warnings };
}

/** What the agent says of one volume: whether its path exists, its newest restore point. */
export interface VolumeState {
  exists: boolean;
  /** The restore point promote() would copy (the standby's current), null when none. */
  latestRestorePoint: string | null;
  /** The restore point the volume at the path was promoted from, when the agent made it. */
  promotedFrom?: string | null;
}

/** A volume to promote; `replace` when something else is at its path (moved aside). */
export type Promotion = MigratedVolume & { replace: boolean };

export interface VolumePlan {
  promote: Promotion[];
  alreadyPromoted: MigratedVolume[];
  /** One message per volume that cannot be promoted; when any, nothing may change. */
  refusals: string[];
}

/**
 * `inUse` maps `namespace/claim` to a running pod that mounts it (podsUsingClaims): such a volume
 * is never replaced under the pod.
 */
export function planVolumes(
  volumes: readonly MigratedVolume[],
  state: ReadonlyMap<string, VolumeState>,
  inUse: ReadonlyMap<string, string> = new Map(),
): VolumePlan {
  const plan: VolumePlan = { promote: [], alreadyPromoted: [], refusals: [] };
  const planned = new Set<string>();
  for (const v of volumes) {
    const s = state.get(v.volume);
    const pod = inUse.get(`${v.namespace}/${v.pvc}`);
    if (planned.has(v.volume)) plan.alreadyPromoted.push(v);
    else if (!s?.latestRestorePoint) {
      plan.refusals.push(
        `pvc ${v.namespace}/${v.pvc}: volume ${v.volume} has no restore point on the standby's agent (never migrated there?)`,
      );
    } else if (s.exists && s.promotedFrom === s.latestRestorePoint) plan.alreadyPromoted.push(v);
    else if (s.exists && pod) {
      plan.refusals.push(
        `pvc ${v.namespace}/${v.pvc}: ${v.path} holds data other than the latest restore point ${s.latestRestorePoint} and pod ${v.namespace}/${pod} uses it; stop it (storkctl deactivate migrations, or scale it to 0) and activate again`,
      );
    } else {
      plan.promote.push({ ...v, replace: s.exists });
      planned.add(v.volume);
    }
  }
  return plan;
}

/** `namespace/claim` → the name of a pod that mounts it and has not finished. */
export function podsUsingClaims(pods: readonly KubeObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const pod of sortByKey(pods)) {
    const status = isPlainObject(pod['status']) ? pod['status'] : {};
    if (status['phase'] === 'Succeeded' || status['phase'] === 'Failed') continue;
    const spec = isPlainObject(pod['spec']) ? pod['spec'] : {};
    const volumes = Array.isArray(spec['volumes']) ? spec['volumes'] : [];
    for (const vol of volumes) {
      const claim =
        isPlainObject(vol) && isPlainObject(vol['persistentVolumeClaim'])
          ? vol['persistentVolumeClaim']['claimName']
          : undefined;
      const key = `${pod.metadata?.namespace ?? ''}/${String(claim)}`;
      if (typeof claim === 'string' && !out.has(key)) out.set(key, pod.metadata?.name ?? '');
    }
  }
  return out;
}

export type WorkloadKind = 'deployment' | 'statefulset' | 'replicaset' | 'cronjob';

export const WORKLOAD_KINDS: Record<WorkloadKind, ResourceKind> = {
  ...SCALED_KINDS,
  cronjob: { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true },
};

export interface WorkloadChange {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** The merge patch to send; undefined when the object is already as wanted. */
  patch: { spec: { replicas: number } } | { spec: { suspend: boolean } } | undefined;
  /** Stork's line for a change, or Ferry's "already" line for an object left alone. */
  message: string;
  /** The object cannot be handled (a bad annotation): the message is a warning. */
  warning?: true;
}

/** The changes to the workloads of `objects` (each of kind `kind`), in namespace/name order. */
export function planWorkloads(
  direction: Direction,
  kind: WorkloadKind,
  objects: readonly KubeObject[],
): WorkloadChange[] {
  const out: WorkloadChange[] = [];
  for (const o of sortByKey(objects)) {
    if ((o.metadata?.ownerReferences ?? []).length > 0) continue;
    const annotations = annotationsOf(o);
    const namespace = o.metadata?.namespace ?? '';
    const name = o.metadata?.name ?? '';
    const spec = isPlainObject(o['spec']) ? o['spec'] : {};
    const where = `${kind} ${namespace}/${name}`;
    if (kind === 'cronjob') {
      if (annotations[ANNOTATIONS.migrated] !== 'true') continue;
      const suspend = direction === 'deactivate';
      const current = spec['suspend'] === true;
      out.push(
        current === suspend
          ? {
              kind,
              namespace,
              name,
              patch: undefined,
              message: `Suspend option for ${where} already ${suspend}`,
            }
          : {
              kind,
              namespace,
              name,
              patch: { spec: { suspend } },
              message: `Updated suspend option for ${where} to ${suspend}`,
            },
      );
      continue;
    }
    const wanted = annotations[ANNOTATIONS.migrationReplicas];
    if (wanted === undefined) continue;
    const count = Number(wanted);
    if (!/^\d+$/.test(wanted.trim()) || !Number.isSafeInteger(count)) {
      out.push({
        kind,
        namespace,
        name,
        patch: undefined,
        warning: true,
        message: `Skipped ${where}: annotation ${ANNOTATIONS.migrationReplicas} is "${wanted}", not a replica count`,
      });
      continue;
    }
    const replicas = direction === 'activate' ? count : 0;
    const current = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
    out.push(
      current === replicas
        ? { kind, namespace, name, patch: undefined, message: `Replicas for ${where} already ${replicas}` }
        : {
            kind,
            namespace,
            name,
            patch: { spec: { replicas } },
            message: `Updated replicas for ${where} to ${replicas}`,
          },
    );
  }
  return out;
}

export function promotedMessage(
  v: MigratedVolume,
  restorePoint: string,
  path: string,
  replaced?: string,
): string {
  const aside = replaced ? ` (what was there moved to ${replaced})` : '';
  return `Promoted volume ${v.volume} (restore point ${restorePoint}) to ${path} for pvc ${v.namespace}/${v.pvc}${aside}`;
}

export function alreadyPromotedMessage(v: MigratedVolume): string {
  return `Volume ${v.volume} for pvc ${v.namespace}/${v.pvc} already promoted at ${v.path}`;
}

function sortByKey(objects: readonly KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  return [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export const MIGRATION_SCHEDULE_KIND: ResourceKind = {
  group: 'stork.libopenstorage.org',
  version: 'v1alpha1',
  kind: 'MigrationSchedule',
  plural: 'migrationschedules',
  namespaced: true,
};

export interface ScheduleChange {
  namespace: string;
  name: string;
  /** The status patch to send; undefined when the schedule already says so. */
  patch: { status: { applicationActivated: boolean } } | undefined;
  message: string;
}

/**
 * Stork marks the MigrationSchedules that feed an activated namespace (their template's
 * `namespaces` list it) `status.applicationActivated: true`, and deactivate sets it back to
 * false, so a schedule can tell (autoSuspend) that its apps now run on the standby. `namespaces`
 * undefined means every namespace (-a). Schedules that pick namespaces by label only are left out.
 */
export function planSchedules(
  direction: Direction,
  schedules: readonly KubeObject[],
  namespaces: ReadonlySet<string> | undefined,
): ScheduleChange[] {
  const activated = direction === 'activate';
  const out: ScheduleChange[] = [];
  for (const s of sortByKey(schedules)) {
    const template = isPlainObject(s['spec']) ? s['spec']['template'] : undefined;
    const spec = isPlainObject(template) && isPlainObject(template['spec']) ? template['spec'] : {};
    const fed = Array.isArray(spec['namespaces'])
      ? spec['namespaces'].filter((n): n is string => typeof n === 'string')
      : [];
    if (fed.length === 0 || (namespaces && !fed.some((n) => namespaces.has(n)))) continue;
    const status = isPlainObject(s['status']) ? s['status'] : {};
    const namespace = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    const where = `migrationschedule ${namespace}/${name}`;
    out.push(
      (status['applicationActivated'] === true) === activated
        ? {
            namespace,
            name,
            patch: undefined,
            message: `Application activated for ${where} already ${activated}`,
          }
        : {
            namespace,
            name,
            patch: { status: { applicationActivated: activated } },
            message: `Updated application activated for ${where} to ${activated}`,
          },
    );
  }
  return out;
}
