// Which of the source's resources a migration takes, as Stork decides it.
//
// Kinds: every namespaced kind the source serves that can be listed and created (custom
// resources included), once per group at the group's preferred version, except those that a
// cluster makes for itself (Pods, Events, Endpoints, EndpointSlices, ControllerRevisions,
// Leases, review requests, metrics) and Stork's own kinds. Jobs only when
// includeOptionalResourceTypes lists "job"; excludeResourceTypes drops a Kind (case-insensitive).
//
// Objects of those kinds, in the migration's namespaces, are taken unless:
//   * they are what a cluster creates by itself: the `kubernetes` Service, the
//     `kube-root-ca.crt` ConfigMap, the `default` ServiceAccount, service-account token Secrets;
//   * they carry `stork.libopenstorage.org/skip-resource: "true"`;
//   * a selector label is missing or different, or an excludeSelectors label matches;
//   * an owner reference names a Pod or a kind that is itself collected (the ReplicaSets of a
//     Deployment, the Pods of anything), unless ignoreOwnerReferencesCheck;
//   * they are NetworkPolicies with ipBlock (CIDR) rules, unless includeNetworkPolicyWithCIDR:
//     addresses of one cluster rarely mean anything in the other.
import {
  ANNOTATIONS,
  STORK,
  annotationsOf,
  isPlainObject,
  labelsOf,
  nameOf,
  type KubeObject,
  type ResourceKind,
} from './objects.js';

export interface SelectionSpec {
  selectors?: Record<string, string>;
  excludeSelectors?: Record<string, string>;
  excludeResourceTypes?: string[];
  includeOptionalResourceTypes?: string[];
  ignoreOwnerReferencesCheck?: boolean;
  includeNetworkPolicyWithCIDR?: boolean;
}

/** Kinds the cluster creates and manages by itself: never migrated. */
const GENERATED: ReadonlyArray<[group: string, kind: string]> = [
  ['', 'Pod'],
  ['', 'Event'],
  ['events.k8s.io', 'Event'],
  ['', 'Endpoints'],
  ['discovery.k8s.io', 'EndpointSlice'],
  ['apps', 'ControllerRevision'],
  ['coordination.k8s.io', 'Lease'],
  ['', 'Binding'],
  ['', 'PodTemplate'],
  ['authorization.k8s.io', 'LocalSubjectAccessReview'],
  ['metrics.k8s.io', 'PodMetrics'],
  ['storage.k8s.io', 'CSIStorageCapacity'],
];
/** Kinds migrated only when includeOptionalResourceTypes names them. */
const OPTIONAL: ReadonlyArray<[group: string, kind: string]> = [['batch', 'Job']];

const lower = (s: string) => s.toLowerCase();

export function isCollectedKind(k: ResourceKind, spec: SelectionSpec): boolean {
  if (!k.namespaced) return false;
  if (k.group === STORK) return false;
  if (GENERATED.some(([g, kind]) => g === k.group && kind === k.kind)) return false;
  const excluded = (spec.excludeResourceTypes ?? []).map(lower);
  if (excluded.includes(lower(k.kind))) return false;
  if (OPTIONAL.some(([g, kind]) => g === k.group && kind === k.kind)) {
    return (spec.includeOptionalResourceTypes ?? []).map(lower).includes(lower(k.kind));
  }
  return true;
}

/** Why an object is not migrated, or null when it is. */
export function skipReason(
  kind: ResourceKind,
  o: KubeObject,
  spec: SelectionSpec,
  collectedKinds: ReadonlySet<string>,
): string | null {
  const name = nameOf(o);
  if (kind.group === '') {
    if (kind.kind === 'Service' && name === 'kubernetes') return 'created by the cluster';
    if (kind.kind === 'ConfigMap' && name === 'kube-root-ca.crt') return 'created by the cluster';
    if (kind.kind === 'ServiceAccount' && name === 'default') return 'created by the cluster';
    if (kind.kind === 'Secret' && o['type'] === 'kubernetes.io/service-account-token')
      return 'service-account token, created by the cluster';
  }
  if (annotationsOf(o)[ANNOTATIONS.skipResource] === 'true') return `annotated ${ANNOTATIONS.skipResource}`;
  if (!matchesSelectors(labelsOf(o), spec.selectors, spec.excludeSelectors)) return 'labels do not match';
  if (!spec.ignoreOwnerReferencesCheck) {
    for (const ref of o.metadata?.ownerReferences ?? []) {
      if (ref.kind === 'Pod' || (ref.kind !== undefined && collectedKinds.has(ref.kind)))
        return `owned by ${ref.kind} ${ref.name ?? ''}`.trim();
    }
  }
  if (
    kind.group === 'networking.k8s.io' &&
    kind.kind === 'NetworkPolicy' &&
    !spec.includeNetworkPolicyWithCIDR
  ) {
    if (hasIpBlock(o)) return 'NetworkPolicy with CIDR rules (includeNetworkPolicyWithCIDR is false)';
  }
  return null;
}

/** All `selectors` labels present and equal, and no `excludeSelectors` label equal. */
export function matchesSelectors(
  labels: Record<string, string>,
  selectors: Record<string, string> | undefined,
  excludeSelectors: Record<string, string> | undefined,
): boolean {
  for (const [k, v] of Object.entries(selectors ?? {})) if (labels[k] !== v) return false;
  for (const [k, v] of Object.entries(excludeSelectors ?? {})) if (labels[k] === v) return false;
  return true;
}

function hasIpBlock(o: KubeObject): boolean {
  const spec = o['spec'];
  if (!isPlainObject(spec)) return false;
  for (const dir of ['ingress', 'egress'] as const) {
    const rules = spec[dir];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!isPlainObject(rule)) continue;
      const peers = rule[dir === 'ingress' ? 'from' : 'to'];
      if (Array.isArray(peers) && peers.some((p) => isPlainObject(p) && p['ipBlock'] !== undefined))
        return true;
    }
  }
  return false;
}

/**
 * Discovery lists a kind once per served version; keep one per (group, kind): the group's
 * preferred version when it serves the kind, else the first listed.
 */
export function preferredKinds(
  kinds: readonly ResourceKind[],
  preferred: ReadonlyMap<string, string>,
): ResourceKind[] {
  const chosen = new Map<string, ResourceKind>();
  for (const k of kinds) {
    const key = `${k.group}/${k.kind}`;
    const have = chosen.get(key);
    if (!have || (have.version !== preferred.get(k.group) && k.version === preferred.get(k.group)))
      chosen.set(key, k);
  }
  return [...chosen.values()];
}
