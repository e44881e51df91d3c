// Migration (namespaced): one run that copies namespaces' resources and volume data to the
// cluster of a ClusterPair. Stork's spec fields and status shape; defaults as Stork's controller
// sets them (includeResources/includeVolumes true, startApplications/purge/skipServiceUpdate false).

import { array, bool, int, map, object, string, type InOf, type OutOf } from '../schema/index.js';
import { apiVersionField, kindField } from './common.js';
import { namespaceName, objectMeta, objectName } from './meta.js';

export const MIGRATION_STAGES = [
  'Initial',
  'PreExecRule',
  'PostExecRule',
  'Volumes',
  'Applications',
  'Final',
] as const;
export const MIGRATION_STATUSES = [
  'Initial',
  'Pending',
  'InProgress',
  'Failed',
  'PartialSuccess',
  'Successful',
  'Purged',
] as const;
export type MigrationStage = (typeof MIGRATION_STAGES)[number];
export type MigrationStatusType = (typeof MIGRATION_STATUSES)[number];

const ruleRef = (when: string) =>
  string({ description: `Name of a Rule in the migration's namespace to run ${when}; empty for none.` });

const labelMap = (description: string) => map(string(), { description });

export const migrationSpecSchema = object(
  {
    clusterPair: objectName("Name of the ClusterPair (in the migration's namespace) to migrate to."),
    namespaces: array(namespaceName('A namespace to migrate.'), {
      description: 'Namespaces whose resources and volumes are migrated.',
      minItems: 1,
    }),
    selectors: labelMap('Only resources with all these labels are migrated (label key -> value).'),
    excludeSelectors: labelMap('Resources with any of these labels are not migrated (label key -> value).'),
    includeResources: bool({ description: 'Migrate Kubernetes resources (default true).', default: true }),
    includeVolumes: bool({ description: 'Migrate volume data (default true).', default: true }),
    startApplications: bool({
      description:
        'Scale applications up on the destination after migrating (default false; keep false for scheduled DR).',
      default: false,
    }),
    purgeDeletedResources: bool({
      description:
        'Delete on the destination what was deleted on the source since the last migration (default false).',
      default: false,
    }),
    skipServiceUpdate: bool({
      description: 'Do not update Services that already exist on the destination.',
      default: false,
    }),
    preExecRule: ruleRef('before the volumes are snapshotted'),
    postExecRule: ruleRef('after the volumes are snapshotted'),
    includeOptionalResourceTypes: array(string(), {
      description: 'Resource kinds migrated only when listed (e.g. Job).',
    }),
    excludeResourceTypes: array(string(), { description: 'Resource kinds never migrated (e.g. Secret).' }),
  },
  { description: 'What to migrate and where to.', required: ['clusterPair', 'namespaces'] },
);

const time = (description: string) => string({ description, format: 'date-time', nullable: true });

export const migrationResourceInfoSchema = object({
  name: string(),
  namespace: string(),
  group: string(),
  version: string(),
  kind: string(),
  status: string({ enum: ['', ...MIGRATION_STATUSES] }),
  reason: string(),
});

export const migrationVolumeInfoSchema = object({
  persistentVolumeClaim: string(),
  namespace: string(),
  volume: string(),
  status: string({ enum: ['', ...MIGRATION_STATUSES] }),
  reason: string(),
  bytesTotal: int({ format: 'int64', description: 'Bytes the transfer had to send (Stork).' }),
  bytesDone: int({ format: 'int64', description: 'Of bytesTotal, bytes the standby has accepted (Ferry).' }),
  replicationKind: string({ description: 'full or incremental (Ferry).' }),
  restorePoint: string({ description: "The standby's restore point this migration made (Ferry)." }),
});

export const migrationSummarySchema = object({
  totalNumberOfVolumes: int({ format: 'int64' }),
  numOfMigratedVolumes: int({ format: 'int64' }),
  totalNumberOfResources: int({ format: 'int64' }),
  numOfMigratedResources: int({ format: 'int64' }),
  totalBytesMigrated: int({ format: 'int64' }),
  elapsedTimeForVolumeMigration: string({ description: 'Go duration, e.g. 5m0s (Stork).' }),
  elapsedTimeForResourceMigration: string({ description: 'Go duration, e.g. 1m0s (Stork).' }),
  elapsedTimePerStage: map(string(), { description: 'Go duration of each stage that ran (Ferry).' }),
});

export const migrationStatusSchema = object(
  {
    stage: string({ description: 'Current stage.', enum: ['', ...MIGRATION_STAGES] }),
    status: string({ description: 'Current status.', enum: ['', ...MIGRATION_STATUSES] }),
    resources: array(migrationResourceInfoSchema, { description: 'Per-resource results.' }),
    volumes: array(migrationVolumeInfoSchema, { description: 'Per-volume results.' }),
    finishTimestamp: time('When the migration finished.'),
    volumeMigrationFinishTimestamp: time('When the volume stage finished.'),
    resourceMigrationFinishTimestamp: time('When the resource stage finished.'),
    summary: migrationSummarySchema,
    reason: string({ description: 'Why the migration failed or partly failed (Ferry).' }),
    workflowId: string({ description: 'The Temporal workflow that runs this migration (Ferry).' }),
  },
  { description: 'Observed state, written by Ferry.' },
);

export const migrationSchema = object(
  {
    apiVersion: apiVersionField(),
    kind: kindField('Migration'),
    metadata: objectMeta,
    spec: migrationSpecSchema,
    status: migrationStatusSchema,
  },
  {
    description: 'One migration of namespaces to the cluster of a ClusterPair.',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
  },
);

export type MigrationSpec = OutOf<typeof migrationSpecSchema>;
export type MigrationSpecInput = InOf<typeof migrationSpecSchema>;
export type MigrationStatus = OutOf<typeof migrationStatusSchema>;
export type MigrationResourceInfo = OutOf<typeof migrationResourceInfoSchema>;
export type MigrationVolumeInfo = OutOf<typeof migrationVolumeInfoSchema>;
export type MigrationSummary = OutOf<typeof migrationSummarySchema>;
export type Migration = OutOf<typeof migrationSchema>;
export type MigrationInput = InOf<typeof migrationSchema>;
