// The four policy types and how each one's triggers are defined.
//   interval  anchor + k * intervalMinutes for every integer k. The anchor is the last trigger
//             (Stork: due when now - lastTrigger >= interval); with none, it is the `after`
//             instant asked about, so the first interval trigger is after + intervalMinutes.
//   daily     for every civil day in the policy's zone: that day at `time`.
//   weekly    for every civil day that is `day`: that day at `time`.
//   monthly   for every month: the normalised date (year, month, `date`) at `time`, so a date
//             the month lacks rolls over (Feb 31 -> Mar 3 / Mar 2 in a leap year; Apr 31 -> May 1).
// Wall times map to instants with the DST rules of zone.ts.

import { MAX_INTERVAL_MINUTES, parseKitchenTime, parseWeekday } from '../api/policy-values.js';
import type { SchedulePolicyItemInput } from '../api/kinds/schedule-policy.js';
import type { Zone } from 'luxon';
import { resolveZone } from './zone.js';

export type PolicyType = 'interval' | 'daily' | 'weekly' | 'monthly';

/** Fixed order: ties between types are listed in this order. */
export const POLICY_TYPES: readonly PolicyType[] = ['interval', 'daily', 'weekly', 'monthly'];

/** Stork's spelling of a policy type in MigrationSchedule status.items (Interval, Daily, ...). */
export function statusKey(type: PolicyType): 'Interval' | 'Daily' | 'Weekly' | 'Monthly' {
  return (type[0]!.toUpperCase() + type.slice(1)) as 'Interval' | 'Daily' | 'Weekly' | 'Monthly';
}

/** The types a policy sets, in POLICY_TYPES order. */
export function policyTypes(policy: SchedulePolicyItemInput): PolicyType[] {
  return POLICY_TYPES.filter((t) => policy[t] !== undefined && policy[t] !== null);
}

export type CompiledType =
  | { type: 'interval'; minutes: number; zone: Zone }
  | {
      type: 'daily' | 'weekly' | 'monthly';
      zone: Zone;
      hour: number;
      minute: number;
      weekday?: number;
      date?: number;
    };

/** Parses one type of a (validated) policy; throws naming the field when it is absent or bad. */
export function compileType(
  type: PolicyType,
  policy: SchedulePolicyItemInput,
  defaultZone = 'UTC',
): CompiledType {
  const zone = resolveZone(policy.timezone, defaultZone);
  const fail = (field: string, value: unknown): never => {
    throw new Error(`policy.${type}${field}: ${JSON.stringify(value)} is not valid`);
  };
  if (type === 'interval') {
    const minutes = policy.interval?.intervalMinutes;
    if (minutes === undefined || !Number.isInteger(minutes) || minutes < 1 || minutes > MAX_INTERVAL_MINUTES)
      return fail('.intervalMinutes', minutes);
    return { type, minutes, zone };
  }
  const item = policy[type];
  if (!item) return fail('', item);
  const time = parseKitchenTime(item.time) ?? fail('.time', item.time);
  if (type === 'weekly') {
    const day = policy.weekly!.day;
    return { type, zone, ...time, weekday: parseWeekday(day) ?? fail('.day', day) };
  }
  if (type === 'monthly') {
    const date = policy.monthly!.date;
    if (!Number.isInteger(date) || date < 1 || date > 31) fail('.date', date);
    return { type, zone, ...time, date };
  }
  return { type, zone, ...time };
}
