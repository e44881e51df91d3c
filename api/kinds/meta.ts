// Kubernetes ObjectMeta as a schema: what a manifest may carry under `metadata`, including what
// `kubectl get -o yaml` prints (creationTimestamp, possibly null, uid, resourceVersion, ...).
// A CRD may not describe metadata beyond its type, so its CRD node is just `type: object`.

import { array, bool, int, map, object, string, freeObject } from '../schema/index.js';

export const API_GROUP = 'stork.libopenstorage.org';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/** DNS-1123 subdomain: what the apiserver requires of a custom resource's name. */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS-1123 label: what a namespace name must be. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export function objectName(description: string) {
  return string({
    description,
    pattern: DNS1123_SUBDOMAIN,
    maxLength: 253,
    mismatch: (v) =>
      `${JSON.stringify(v)} is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
  });
}

export function namespaceName(description: string) {
  return string({
    description,
    pattern: DNS1123_LABEL,
    maxLength: 63,
    mismatch: (v) =>
      `${JSON.stringify(v)} is not a valid namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit`,
  });
}

const timestamp = (description: string) => string({ description, format: 'date-time', nullable: true });

const ownerReference = object(
  {
    apiVersion: string(),
    kind: string(),
    name: string(),
    uid: string(),
    controller: bool(),
    blockOwnerDeletion: bool(),
  },
  { required: ['apiVersion', 'kind', 'name', 'uid'] },
);

export const objectMeta = object(
  {
    name: objectName('Name of the object, unique within its namespace (or the cluster).'),
    generateName: string(),
    namespace: namespaceName('Namespace of the object; ignored for cluster-scoped kinds.'),
    labels: map(string()),
    annotations: map(string()),
    uid: string(),
    resourceVersion: string(),
    generation: int(),
    selfLink: string(),
    creationTimestamp: timestamp('Set by the apiserver; `null` in manifests written by kubectl.'),
    deletionTimestamp: timestamp('Set by the apiserver when deletion was requested.'),
    deletionGracePeriodSeconds: int(),
    finalizers: array(string()),
    ownerReferences: array(ownerReference),
    managedFields: array(freeObject()),
  },
  {
    description: 'Standard Kubernetes object metadata.',
    required: ['name'],
    openApiOverride: { type: 'object' },
  },
);
