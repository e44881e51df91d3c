// Plain Kubernetes objects as JSON, and the small vocabulary every resource rule speaks: the
// group/version/kind of an object, its key, its labels, and Stork's annotation names.

export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMetadata;
};

export interface ObjectMetadata {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion?: string; kind?: string; name?: string; uid?: string }>;
  [key: string]: unknown;
}

/** A kind the source serves, as discovery reports it. */
export interface ResourceKind {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  /** The plural resource name used in URLs, e.g. "deployments". */
  plural: string;
  namespaced: boolean;
}

export const STORK = 'stork.libopenstorage.org';
export const ANNOTATIONS = {
  migrated: `${STORK}/migrated`,
  migrationName: `${STORK}/migrationName`,
  migrationNamespace: `${STORK}/migrationNamespace`,
  migrationTime: `${STORK}/migrationTime`,
  resourceHash: `${STORK}/resource-hash`,
  migrationReplicas: `${STORK}/migrationReplicas`,
  reclaimPolicy: `${STORK}/reclaimPolicy`,
  skipResource: `${STORK}/skip-resource`,
  scheduleName: `${STORK}/migration-schedule-name`,
} as const;

export function apiVersionOf(k: Pick<ResourceKind, 'group' | 'version'>): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

/** "apps/v1, Kind=Deployment": how Stork names a kind in messages. */
export function gvkString(k: Pick<ResourceKind, 'group' | 'version' | 'kind'>): string {
  return `${apiVersionOf(k)}, Kind=${k.kind}`;
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function nameOf(o: KubeObject): string {
  return o.metadata?.name ?? '';
}

export function namespaceOf(o: KubeObject): string {
  return o.metadata?.namespace ?? '';
}

export function labelsOf(o: KubeObject): Record<string, string> {
  return o.metadata?.labels ?? {};
}

export function annotationsOf(o: KubeObject): Record<string, string> {
  return o.metadata?.annotations ?? {};
}

/** "group/Kind/namespace/name": identity of an object across clusters. */
export function objectKey(kind: Pick<ResourceKind, 'group' | 'kind'>, o: KubeObject): string {
  return `${kind.group}/${kind.kind}/${namespaceOf(o)}/${nameOf(o)}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy of JSON data. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}
