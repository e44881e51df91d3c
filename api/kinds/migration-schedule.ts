// MigrationSchedule (namespaced): a Migration template triggered by a SchedulePolicy. Stork's
// spec (template.spec, schedulePolicyName, suspend, autoSuspend) and status (items per policy
// type, applicationActivated).

import { array, bool, object, string, type InOf, type OutOf } from '../schema/index.js';
import { apiVersionField, kindField } from './common.js';
import { objectMeta, objectName } from './meta.js';
import { MIGRATION_STATUSES, migrationSpecSchema } from './migration.js';

export const scheduledMigrationStatusSchema = object({
  name: string({ description: 'Name of the Migration.' }),
  creationTimestamp: string({ format: 'date-time', nullable: true }),
  finishTimestamp: string({ format: 'date-time', nullable: true }),
  status: string({ enum: ['', ...MIGRATION_STATUSES] }),
});

const perType = (type: string) =>
  array(scheduledMigrationStatusSchema, {
    description: `Migrations triggered by the ${type} policy: the last successful one and any failed or in progress.`,
  });

export const migrationScheduleStatusSchema = object(
  {
    items: object(
      {
        Interval: perType('interval'),
        Daily: perType('daily'),
        Weekly: perType('weekly'),
        Monthly: perType('monthly'),
      },
      { description: 'Per policy type (Stork spells the keys Interval, Daily, Weekly, Monthly).' },
    ),
    applicationActivated: bool({
      description:
        'True once the applications this schedule migrates were activated on the standby (storkctl activate).',
    }),
  },
  { description: 'Observed state, written by Ferry.' },
);

export const migrationScheduleSpecSchema = object(
  {
    template: object(
      { spec: migrationSpecSchema },
      { description: 'The Migration each trigger creates.', required: ['spec'] },
    ),
    schedulePolicyName: objectName(
      "Name of the SchedulePolicy (or a NamespacedSchedulePolicy in the schedule's namespace) that triggers it.",
    ),
    suspend: bool({ description: 'While true, no migration is triggered (default false).', default: false }),
    autoSuspend: bool({
      description:
        'Suspend this schedule by itself once its applications are activated on the standby, so that the two ' +
        'sides never both write (default false; storkctl create migrationschedule sets true).',
      default: false,
    }),
  },
  {
    description: 'A migration template and the policy that triggers it.',
    required: ['template', 'schedulePolicyName'],
  },
);

export const migrationScheduleSchema = object(
  {
    apiVersion: apiVersionField(),
    kind: kindField('MigrationSchedule'),
    metadata: objectMeta,
    spec: migrationScheduleSpecSchema,
    status: migrationScheduleStatusSchema,
  },
  {
    description: 'Migrations of a template, triggered by a schedule policy.',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
  },
);

export type ScheduledMigrationStatus = OutOf<typeof scheduledMigrationStatusSchema>;
export type MigrationScheduleStatus = OutOf<typeof migrationScheduleStatusSchema>;
export type MigrationScheduleSpec = OutOf<typeof migrationScheduleSpecSchema>;
export type MigrationSchedule = OutOf<typeof migrationScheduleSchema>;
export type MigrationScheduleInput = InOf<typeof migrationScheduleSchema>;
