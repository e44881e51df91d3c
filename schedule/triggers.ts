// Trigger instants of one policy type. Pure and deterministic: no clock is read here; `after`,
// `atOrBefore` and the interval anchor are parameters. Results are luxon DateTimes in the
// policy's zone (compare them with toMillis(); print them with toUTC().toISO()).
//
//   nextTrigger(type, policy, after, opts)        first trigger strictly after `after`
//   previousTrigger(type, policy, atOrBefore, opts) last trigger at or before `atOrBefore`
//   triggersBetween(type, policy, after, until, opts) triggers t with after < t <= until
//
// opts.defaultZone: zone of a policy without `timezone` (default UTC).
// opts.anchor: an interval trigger (normally the last one fired); default: `after` (for
// previousTrigger: `atOrBefore`), so the first interval trigger is after + intervalMinutes.

import { DateTime } from 'luxon';
import type { SchedulePolicyItemInput } from '../api/kinds/schedule-policy.js';
import { compileType, type CompiledType, type PolicyType } from './policy-types.js';
import { civilDate, wallTimeToMillis, weekdayOf } from './zone.js';

export interface TriggerOptions {
  defaultZone?: string;
  anchor?: DateTime;
}

type Calendar = Exclude<CompiledType, { type: 'interval' }>;

// Candidate k of a calendar type relative to the civil date (y, m, d) of a reference instant:
// the k-th day (daily, weekly) or month (monthly) from it; NaN when a day is not the weekday.
// Instants are non-decreasing in k, which is what lets the searches below stop early.
function candidate(c: Calendar, y: number, m: number, d: number, k: number): number {
  switch (c.type) {
    case 'daily':
      return wallTimeToMillis(c.zone, y, m, d + k, c.hour, c.minute);
    case 'weekly':
      return weekdayOf(y, m, d + k) === c.weekday
        ? wallTimeToMillis(c.zone, y, m, d + k, c.hour, c.minute)
        : NaN;
    case 'monthly':
      return wallTimeToMillis(c.zone, y, m + k, c.date!, c.hour, c.minute);
  }
}

// How far to look: one day before/after the reference date covers zone offsets and DST shifts;
// a week covers weekly; 13 months cover monthly (a rolled-over date lands in the next month).
const RANGE: Record<Calendar['type'], [number, number]> = {
  daily: [-2, 3],
  weekly: [-2, 9],
  monthly: [-2, 14],
};

function nextMillis(c: CompiledType, after: number, anchor: number): number {
  if (c.type === 'interval') {
    const step = c.minutes * 60_000;
    return anchor + (Math.floor((after - anchor) / step) + 1) * step;
  }
  const { year, month, day } = civilDate(c.zone, after);
  const [lo, hi] = RANGE[c.type];
  for (let k = lo; k <= hi; k++) {
    const t = candidate(c, year, month, day, k);
    if (t > after) return t;
  }
  throw new Error(`no ${c.type} trigger found after ${new Date(after).toISOString()}`);
}

function previousMillis(c: CompiledType, atOrBefore: number, anchor: number): number {
  if (c.type === 'interval') {
    const step = c.minutes * 60_000;
    return anchor + Math.floor((atOrBefore - anchor) / step) * step;
  }
  const { year, month, day } = civilDate(c.zone, atOrBefore);
  const [lo, hi] = RANGE[c.type];
  for (let k = -lo; k >= -hi; k--) {
    const t = candidate(c, year, month, day, k);
    if (t <= atOrBefore) return t;
  }
  throw new Error(`no ${c.type} trigger found before ${new Date(atOrBefore).toISOString()}`);
}

function present(type: PolicyType, policy: SchedulePolicyItemInput): boolean {
  return policy[type] !== undefined && policy[type] !== null;
}

/** The first trigger of `type` strictly after `after`; undefined if the policy lacks the type. */
export function nextTrigger(
  type: PolicyType,
  policy: SchedulePolicyItemInput,
  after: DateTime,
  opts: TriggerOptions = {},
): DateTime | undefined {
  if (!present(type, policy)) return undefined;
  const c = compileType(type, policy, opts.defaultZone);
  const t = nextMillis(c, after.toMillis(), (opts.anchor ?? after).toMillis());
  return DateTime.fromMillis(t, { zone: c.zone });
}

/** The last trigger of `type` at or before `atOrBefore`; undefined if the policy lacks the type. */
export function previousTrigger(
  type: PolicyType,
  policy: SchedulePolicyItemInput,
  atOrBefore: DateTime,
  opts: TriggerOptions = {},
): DateTime | undefined {
  if (!present(type, policy)) return undefined;
  const c = compileType(type, policy, opts.defaultZone);
  const t = previousMillis(c, atOrBefore.toMillis(), (opts.anchor ?? atOrBefore).toMillis());
  return DateTime.fromMillis(t, { zone: c.zone });
}

/** Triggers t of `type` with after < t <= until, oldest first (at most `limit`, default 100000). */
export function triggersBetween(
  type: PolicyType,
  policy: SchedulePolicyItemInput,
  after: DateTime,
  until: DateTime,
  opts: TriggerOptions & { limit?: number } = {},
): DateTime[] {
  if (!present(type, policy)) return [];
  const c = compileType(type, policy, opts.defaultZone);
  const anchor = (opts.anchor ?? after).toMillis();
  const end = until.toMillis();
  const limit = opts.limit ?? 100_000;
  const out: DateTime[] = [];
  for (
    let t = nextMillis(c, after.toMillis(), anchor);
    t <= end && out.length < limit;
    t = nextMillis(c, t, anchor)
  ) {
    out.push(DateTime.fromMillis(t, { zone: c.zone }));
  }
  return out;
}

/** Number of triggers t with after < t <= until, without listing them when that is cheap. */
export function countTriggersBetween(
  type: PolicyType,
  policy: SchedulePolicyItemInput,
  after: DateTime,
  until: DateTime,
  opts: TriggerOptions = {},
): number {
  if (!present(type, policy) || until <= after) return 0;
  const c = compileType(type, policy, opts.defaultZone);
  if (c.type === 'interval') {
    const step = c.minutes * 60_000;
    const anchor = (opts.anchor ?? after).toMillis();
    return Math.floor((until.toMillis() - anchor) / step) - Math.floor((after.toMillis() - anchor) / step);
  }
  return triggersBetween(type, policy, after, until, { ...opts, limit: Number.MAX_SAFE_INTEGER }).length;
}
