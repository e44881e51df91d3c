// SchedulePolicy (cluster-scoped) and NamespacedSchedulePolicy (namespaced): when something
// should be triggered. Stork's shape: a top-level `policy` (not `spec`) with up to four types.
// Beyond Stork (optional, documented): policy.timezone and policy.catchupWindow.
// Stork's driver-only fields (`options` of each type, daily.forceFullSnapshotDay) are accepted and
// stored; Ferry ignores them and says so with a warning.

import {
  DEFAULT_CATCHUP_WINDOW,
  DEFAULT_RETAIN,
  KITCHEN_TIME_PATTERN,
  MAX_INTERVAL_MINUTES,
  WEEKDAY_PATTERN,
  isTimeZoneName,
  kitchenTimeMessage,
  parseGoDuration,
  weekdayMessage,
} from '../policy-values.js';
import { int, map, object, string, type InOf, type OutOf } from '../schema/index.js';
import { apiVersionField, ignoredByFerry, kindField } from './common.js';
import { objectMeta } from './meta.js';

const kitchenTime = (what: string) =>
  string({
    description: `Time of day ${what}, in Go's time.Kitchen form: 1:02PM or 1:02pm (hour 1-12, minutes 00-59).`,
    pattern: KITCHEN_TIME_PATTERN,
    mismatch: kitchenTimeMessage,
  });

const retain = (type: keyof typeof DEFAULT_RETAIN) =>
  int({
    description: `How many migrations triggered by this policy type to keep (default ${DEFAULT_RETAIN[type]}, as in Stork).`,
    minimum: 1,
    default: DEFAULT_RETAIN[type],
    outOfRange: (v) => `${v} is not a valid retain count: must be at least 1`,
  });

export const POLICY_OPTIONS_IGNORED = ignoredByFerry(
  'Stork hands these options to its storage driver (Portworx) with each object the policy triggers; ' +
    "Ferry's storage agent takes no per-policy options",
);
export const FORCE_FULL_SNAPSHOT_DAY_IGNORED = ignoredByFerry(
  'Portworx takes a full instead of an incremental snapshot on that day; Ferry sends only the chunks the ' +
    'standby lacks, every time',
);

const driverOptions = () =>
  map(string(), {
    description:
      'Stork: options for the storage driver (Portworx), as strings. Accepted and stored; Ferry ignores them (a warning says so).',
    check: (v, report) => {
      if (Object.keys(v).length > 0) report.warning(POLICY_OPTIONS_IGNORED);
    },
  });

export const intervalPolicySchema = object(
  {
    intervalMinutes: int({
      description:
        'Minutes between two triggers (at least 1, at most 153722867: about 292 years, the longest Go ' +
        'time.Duration, so Stork reads the same interval), counted from the previous trigger.',
      minimum: 1,
      maximum: MAX_INTERVAL_MINUTES,
      outOfRange: (v) =>
        v < 1
          ? `${v} is not a valid interval: must be at least 1 minute`
          : `${v} is not a valid interval: must be at most ${MAX_INTERVAL_MINUTES} minutes (about 292 years)`,
    }),
    retain: retain('interval'),
    options: driverOptions(),
  },
  { description: 'Trigger every intervalMinutes minutes.', required: ['intervalMinutes'] },
);

export const dailyPolicySchema = object(
  {
    time: kitchenTime('of the daily trigger'),
    retain: retain('daily'),
    options: driverOptions(),
    forceFullSnapshotDay: string({
      description:
        'Stork: day of the week on which Portworx takes a full snapshot. Accepted and stored; Ferry ignores it ' +
        '(a warning says so).',
      pattern: `^$|${WEEKDAY_PATTERN}`,
      mismatch: weekdayMessage,
      check: (v, report) => {
        if (v !== '') report.warning(FORCE_FULL_SNAPSHOT_DAY_IGNORED);
      },
    }),
  },
  { description: 'Trigger every day at a time.', required: ['time'] },
);

export const weeklyPolicySchema = object(
  {
    day: string({
      description: 'Day of the week, long or short, any case: Sunday, sun, Tues, Thur, Thurs, ...',
      pattern: WEEKDAY_PATTERN,
      mismatch: weekdayMessage,
    }),
    time: kitchenTime('on that day'),
    retain: retain('weekly'),
    options: driverOptions(),
  },
  { description: 'Trigger every week on a day at a time.', required: ['day', 'time'] },
);

export const monthlyPolicySchema = object(
  {
    date: int({
      description:
        'Date of the month, 1-31. A date a month lacks rolls over into the next month, as Go normalises dates: ' +
        'Feb 31 fires on Mar 3 (Mar 2 in a leap year), Apr 31 on May 1.',
      minimum: 1,
      maximum: 31,
      outOfRange: (v) => `${v} is not a valid date of the month: must be between 1 and 31`,
    }),
    time: kitchenTime('on that date'),
    retain: retain('monthly'),
    options: driverOptions(),
  },
  { description: 'Trigger every month on a date at a time.', required: ['date', 'time'] },
);

export const schedulePolicyItemSchema = object(
  {
    interval: intervalPolicySchema,
    daily: dailyPolicySchema,
    weekly: weeklyPolicySchema,
    monthly: monthlyPolicySchema,
    timezone: string({
      description:
        'Beyond Stork: IANA time zone of the daily, weekly and monthly times (e.g. America/New_York). ' +
        "Default: UTC, unless the worker is configured with another default; never the process's local zone. " +
        'A time inside a skipped hour (spring forward) fires shifted forward by the gap; a time inside a ' +
        'repeated hour (fall back) fires once, at its first occurrence.',
      check: (v, report) => {
        if (!isTimeZoneName(v))
          report.error(`${JSON.stringify(v)} is not an IANA time zone name (e.g. UTC, America/New_York)`);
      },
    }),
    catchupWindow: string({
      description:
        `Beyond Stork: how late a missed trigger may still fire, once, as a Go duration (default ${DEFAULT_CATCHUP_WINDOW}, ` +
        "Stork's rule). A trigger missed by more is skipped and counted.",
      check: (v, report) => {
        if (parseGoDuration(v) === undefined) {
          report.error(`${JSON.stringify(v)} is not a duration (e.g. 1h, 30m, 1h30m, 90s)`);
        }
      },
    }),
  },
  {
    description: 'When to trigger: any of interval, daily, weekly and monthly (at least one).',
    check: (v, report) => {
      if (!v.interval && !v.daily && !v.weekly && !v.monthly) {
        report.error('must set at least one of interval, daily, weekly, monthly');
      }
    },
  },
);

function policyKindSchema<const K extends string>(kind: K, description: string) {
  return object(
    {
      apiVersion: apiVersionField(),
      kind: kindField(kind),
      metadata: objectMeta,
      policy: schedulePolicyItemSchema,
    },
    { description, required: ['apiVersion', 'kind', 'metadata', 'policy'] },
  );
}

export const schedulePolicySchema = policyKindSchema(
  'SchedulePolicy',
  'When an action (a scheduled migration) is triggered. Cluster-scoped; holds no action itself.',
);
export const namespacedSchedulePolicySchema = policyKindSchema(
  'NamespacedSchedulePolicy',
  'A SchedulePolicy that lives in, and is visible to, one namespace.',
);

/** A policy's `policy` field after defaults (retain filled in). */
export type SchedulePolicyItem = OutOf<typeof schedulePolicyItemSchema>;
/** A policy's `policy` field as written (retain optional); what the trigger math needs. */
export type SchedulePolicyItemInput = InOf<typeof schedulePolicyItemSchema>;
export type IntervalPolicy = OutOf<typeof intervalPolicySchema>;
export type DailyPolicy = OutOf<typeof dailyPolicySchema>;
export type WeeklyPolicy = OutOf<typeof weeklyPolicySchema>;
export type MonthlyPolicy = OutOf<typeof monthlyPolicySchema>;
export type SchedulePolicy = OutOf<typeof schedulePolicySchema>;
export type SchedulePolicyInput = InOf<typeof schedulePolicySchema>;
export type NamespacedSchedulePolicy = OutOf<typeof namespacedSchedulePolicySchema>;
