// The next triggers of a whole policy, merged across its types and sorted by time; triggers at
// the same instant are listed in the fixed type order interval < daily < weekly < monthly.

import type { DateTime } from 'luxon';
import type { SchedulePolicyItemInput } from '../api/kinds/schedule-policy.js';
import { POLICY_TYPES, policyTypes, type PolicyType } from './policy-types.js';
import { nextTrigger } from './triggers.js';

export interface PolicyTrigger {
  policy: PolicyType;
  time: DateTime;
}

export interface NextTriggersOptions {
  defaultZone?: string;
  /** Anchor of the interval type (its last trigger); default `after`. */
  intervalAnchor?: DateTime;
}

/** The first `count` triggers strictly after `after`, across all types of the policy. */
export function nextTriggers(
  policy: SchedulePolicyItemInput,
  after: DateTime,
  count: number,
  opts: NextTriggersOptions = {},
): PolicyTrigger[] {
  const all: PolicyTrigger[] = [];
  for (const type of policyTypes(policy)) {
    const anchor = type === 'interval' ? (opts.intervalAnchor ?? after) : undefined;
    let t = after;
    for (let i = 0; i < count; i++) {
      t = nextTrigger(type, policy, t, { defaultZone: opts.defaultZone, ...(anchor ? { anchor } : {}) })!;
      all.push({ policy: type, time: t });
    }
  }
  all.sort(
    (a, b) =>
      a.time.toMillis() - b.time.toMillis() ||
      POLICY_TYPES.indexOf(a.policy) - POLICY_TYPES.indexOf(b.policy),
  );
  return all.slice(0, count);
}
