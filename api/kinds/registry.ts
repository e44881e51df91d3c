// The kinds of stork.libopenstorage.org/v1alpha1 and what the apiserver needs to know about
// each: names, scope, schema, printer columns. CRD manifests (api/crds.ts), validation
// (api/validate.ts) and the CLI's resource names all come from this table.

import type { AnySchema } from '../schema/index.js';
import { clusterPairSchema, type ClusterPair } from './cluster-pair.js';
import { migrationScheduleSchema, type MigrationSchedule } from './migration-schedule.js';
import { migrationSchema, type Migration } from './migration.js';
import { resourceTransformationSchema, type ResourceTransformation } from './resource-transformation.js';
import { ruleSchema, type Rule } from './rule.js';
import {
  namespacedSchedulePolicySchema,
  schedulePolicySchema,
  type NamespacedSchedulePolicy,
  type SchedulePolicy,
} from './schedule-policy.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindInfo {
  kind: KindName;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  schema: AnySchema;
  /** Whether the kind has a `status` written through the status subresource. */
  hasStatus: boolean;
  printerColumns: PrinterColumn[];
}

/** Every kind, validated and defaulted: discriminated by `kind`. */
export type KnownObject =
  | ClusterPair
  | SchedulePolicy
  | NamespacedSchedulePolicy
  | MigrationSchedule
  | Migration
  | Rule
  | ResourceTransformation;
export type KindName = KnownObject['kind'];

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function policyColumns(): PrinterColumn[] {
  return [
    { name: 'Interval-Minutes', type: 'integer', jsonPath: '.policy.interval.intervalMinutes' },
    { name: 'Daily', type: 'string', jsonPath: '.policy.daily.time' },
    {
      name: 'Weekly',
      type: 'string',
      jsonPath: '.policy.weekly.day',
      description: 'Day of the weekly trigger',
    },
    { name: 'Weekly-Time', type: 'string', jsonPath: '.policy.weekly.time' },
    {
      name: 'Monthly',
      type: 'integer',
      jsonPath: '.policy.monthly.date',
      description: 'Date of the monthly trigger',
    },
    { name: 'Monthly-Time', type: 'string', jsonPath: '.policy.monthly.time' },
    { name: 'Timezone', type: 'string', jsonPath: '.policy.timezone', priority: 1 },
    age,
  ];
}

export const KINDS: readonly KindInfo[] = [
  {
    kind: 'ClusterPair',
    plural: 'clusterpairs',
    singular: 'clusterpair',
    shortNames: [],
    scope: 'Namespaced',
    schema: clusterPairSchema,
    hasStatus: true,
    printerColumns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.options.mode' },
      { name: 'Storage-Status', type: 'string', jsonPath: '.status.storageStatus' },
      { name: 'Scheduler-Status', type: 'string', jsonPath: '.status.schedulerStatus' },
      age,
    ],
  },
  {
    kind: 'SchedulePolicy',
    plural: 'schedulepolicies',
    singular: 'schedulepolicy',
    shortNames: ['schedpolicy', 'sp'],
    scope: 'Cluster',
    schema: schedulePolicySchema,
    hasStatus: false,
    printerColumns: policyColumns(),
  },
  {
    kind: 'NamespacedSchedulePolicy',
    plural: 'namespacedschedulepolicies',
    singular: 'namespacedschedulepolicy',
    shortNames: [],
    scope: 'Namespaced',
    schema: namespacedSchedulePolicySchema,
    hasStatus: false,
    printerColumns: policyColumns(),
  },
  {
    kind: 'MigrationSchedule',
    plural: 'migrationschedules',
    singular: 'migrationschedule',
    shortNames: [],
    scope: 'Namespaced',
    schema: migrationScheduleSchema,
    hasStatus: true,
    printerColumns: [
      { name: 'Policy', type: 'string', jsonPath: '.spec.schedulePolicyName' },
      { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend' },
      age,
    ],
  },
  {
    kind: 'Migration',
    plural: 'migrations',
    singular: 'migration',
    shortNames: [],
    scope: 'Namespaced',
    schema: migrationSchema,
    hasStatus: true,
    printerColumns: [
      { name: 'ClusterPair', type: 'string', jsonPath: '.spec.clusterPair', priority: 1 },
      { name: 'Stage', type: 'string', jsonPath: '.status.stage' },
      { name: 'Status', type: 'string', jsonPath: '.status.status' },
      age,
    ],
  },
  {
    kind: 'Rule',
    plural: 'rules',
    singular: 'rule',
    shortNames: [],
    scope: 'Namespaced',
    schema: ruleSchema,
    hasStatus: false,
    printerColumns: [age],
  },
  {
    kind: 'ResourceTransformation',
    plural: 'resourcetransformations',
    singular: 'resourcetransformation',
    shortNames: [],
    scope: 'Namespaced',
    schema: resourceTransformationSchema,
    hasStatus: true,
    printerColumns: [{ name: 'Status', type: 'string', jsonPath: '.status.status' }, age],
  },
];

export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** Resolves a resource name as kubectl does: kind, singular, plural or short name, any case. */
export function resourceInfo(name: string): KindInfo | undefined {
  const n = name.toLowerCase();
  return KINDS.find(
    (k) => k.kind.toLowerCase() === n || k.singular === n || k.plural === n || k.shortNames.includes(n),
  );
}
