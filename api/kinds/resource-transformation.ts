// ResourceTransformation (namespaced): edits applied to a migration's resources before they are
// applied on the standby (a Migration names them in spec.transformSpecs). Stork's shape, field
// names as Stork writes them: a top-level `specs` (not `spec`) holding `transformSpecs`, each
// selecting resources by `resource` (group/version/kind) and `selectors` (labels, all must match)
// and listing `paths` to add, modify or delete. Value syntaxes: api/transform-values.ts; applying
// them: resources/transformation.ts.

import { array, map, object, string, type InOf, type OutOf } from '../schema/index.js';
import {
  TRANSFORM_OPERATIONS,
  TRANSFORM_VALUE_TYPES,
  operationMessage,
  validateTransformationSpec,
} from '../transform-values.js';
import { apiVersionField, kindField } from './common.js';
import { objectMeta } from './meta.js';

export const RESOURCE_TRANSFORMATION_STATUSES = ['InProgress', 'Ready', 'Failed'] as const;

export const transformPathSchema = object(
  {
    path: string({
      description:
        'Field to change, as field names joined by dots with [n] list indexes: spec.type, ' +
        'metadata.annotations.foo, spec.ports[0].nodePort. A whole list element (spec.ports[0]) cannot be changed.',
    }),
    value: string({
      description:
        'New value as a string, read as `type` says: int 30080, bool true, slice a,b,c, keypair app:web,tier:db. ' +
        'Not used by delete.',
    }),
    type: string({
      description:
        'How `value` is read: string, int, bool, slice (comma-separated list) or keypair (comma-separated ' +
        'key:value map). Required by add and modify.',
      enum: TRANSFORM_VALUE_TYPES,
    }),
    operation: string({
      description:
        'add sets the value (replacing what is there); modify sets it too, except that a keypair is merged into ' +
        'the map and a slice appended to the list already there; delete removes the field.',
      enum: TRANSFORM_OPERATIONS,
      mismatch: operationMessage,
    }),
  },
  { description: 'One change to the selected resources.', required: ['path', 'operation'] },
);

export const transformSpecSchema = object(
  {
    resource: string({
      description:
        'group/version/kind of the resources to change; the core group is empty: /v1/Service, apps/v1/Deployment.',
    }),
    selectors: map(string(), {
      description: 'Only resources carrying all these labels are changed (label key -> value).',
    }),
    paths: array(transformPathSchema, { description: 'Changes, applied in order.', minItems: 1 }),
  },
  { description: 'Which resources to change and how.', required: ['resource', 'paths'] },
);

export const resourceTransformationSpecSchema = object(
  {
    transformSpecs: array(transformSpecSchema, {
      description: 'Applied in order to every migrated resource they select.',
      minItems: 1,
    }),
  },
  {
    description: 'What to change in migrated resources (Stork calls this field `specs`).',
    required: ['transformSpecs'],
    check: (spec, report) => {
      for (const p of validateTransformationSpec(spec)) report.error(p.message, p.path);
    },
  },
);

export const transformResourceInfoSchema = object({
  name: string(),
  namespace: string(),
  group: string(),
  version: string(),
  kind: string(),
  status: string({ enum: ['', ...RESOURCE_TRANSFORMATION_STATUSES] }),
  reason: string(),
  specs: transformSpecSchema,
});

export const resourceTransformationStatusSchema = object(
  {
    status: string({
      description: 'Ready once every selected resource was transformed in a dry run; Failed otherwise.',
      enum: ['', ...RESOURCE_TRANSFORMATION_STATUSES],
    }),
    resources: array(transformResourceInfoSchema, { description: 'Per selected resource: the dry run.' }),
  },
  { description: 'Observed state.' },
);

export const resourceTransformationSchema = object(
  {
    apiVersion: apiVersionField(),
    kind: kindField('ResourceTransformation'),
    metadata: objectMeta,
    specs: resourceTransformationSpecSchema,
    status: resourceTransformationStatusSchema,
  },
  {
    description: 'Changes made to migrated resources before they are applied on the standby.',
    required: ['apiVersion', 'kind', 'metadata', 'specs'],
  },
);

/** A ResourceTransformation's `specs`: what resources/transformation.ts applies. */
export type ResourceTransformationSpec = OutOf<typeof resourceTransformationSpecSchema>;
export type TransformSpec = OutOf<typeof transformSpecSchema>;
export type TransformPath = OutOf<typeof transformPathSchema>;
export type ResourceTransformationStatus = OutOf<typeof resourceTransformationStatusSchema>;
export type ResourceTransformation = OutOf<typeof resourceTransformationSchema>;
export type ResourceTransformationInput = InOf<typeof resourceTransformationSchema>;
