// Is a policy type due now? The check a schedule runs when it wakes up.
//
// Rule (Stork's, made explicit): the triggers that passed since the last one fired are
// t with lastTrigger < t <= now. If there are none, nothing is due. Otherwise the latest of them
// fires, once, if it is at most `catchupWindow` old (default policy.catchupWindow, else 1h);
// the others are skipped and counted. A latest trigger older than the window is skipped too.
//   * interval, no lastTrigger: due at once (Stork triggers the first interval migration right
//     away); scheduledFor = now. With a lastTrigger, triggers are lastTrigger + k * interval.
//   * daily/weekly/monthly, no lastTrigger: due if the latest trigger <= now is within the
//     window; nothing counts as skipped.
// To keep an interval schedule on its grid, pass the `scheduledFor` you fired as the next
// lastTrigger (Stork passes the migration's creation time, which drifts by the processing delay).

import type { DateTime, Duration } from 'luxon';
import { DEFAULT_CATCHUP_WINDOW, parseGoDuration } from '../api/policy-values.js';
import type { SchedulePolicyItemInput } from '../api/kinds/schedule-policy.js';
import type { PolicyType } from './policy-types.js';
import { countTriggersBetween, nextTrigger, previousTrigger } from './triggers.js';

export interface DueCheckInput {
  policyType: PolicyType;
  policy: SchedulePolicyItemInput;
  /** When this type last fired (its scheduledFor); undefined if it never did. */
  lastTrigger?: DateTime;
  now: DateTime;
  /** Overrides policy.catchupWindow; milliseconds or a luxon Duration. */
  catchupWindow?: Duration | number;
  /** Zone of a policy without `timezone` (default UTC). */
  defaultZone?: string;
}

export interface DueCheckResult {
  due: boolean;
  /** The trigger that fires now (<= now), when due. */
  scheduledFor?: DateTime;
  /** Triggers since lastTrigger that will never fire (missed beyond the window, or superseded). */
  skipped: number;
  /** The first trigger strictly after now, assuming a due trigger is fired now. */
  next: DateTime;
}

/** The catch-up window of a policy in milliseconds. */
export function catchupWindowMillis(policy: SchedulePolicyItemInput, override?: Duration | number): number {
  if (override !== undefined) return typeof override === 'number' ? override : override.toMillis();
  const text = policy.catchupWindow ?? DEFAULT_CATCHUP_WINDOW;
  const ms = parseGoDuration(text);
  if (ms === undefined) throw new Error(`policy.catchupWindow: ${JSON.stringify(text)} is not a duration`);
  return ms;
}

export function dueCheck(input: DueCheckInput): DueCheckResult {
  const { policyType: type, policy, lastTrigger, now } = input;
  const window = catchupWindowMillis(policy, input.catchupWindow);
  const opts = { defaultZone: input.defaultZone, ...(lastTrigger ? { anchor: lastTrigger } : {}) };
  if (policy[type] === undefined || policy[type] === null) {
    throw new Error(`policy has no ${type} section`);
  }

  if (type === 'interval' && !lastTrigger) {
    const next = nextTrigger(type, policy, now, { defaultZone: input.defaultZone })!;
    return { due: true, scheduledFor: now, skipped: 0, next };
  }

  const latest = previousTrigger(type, policy, now, opts)!;
  const passed = lastTrigger ? latest > lastTrigger : true;
  if (!passed) return { due: false, skipped: 0, next: nextTrigger(type, policy, now, opts)! };

  const missed = lastTrigger ? countTriggersBetween(type, policy, lastTrigger, now, opts) : 1;
  const inWindow = now.toMillis() - latest.toMillis() <= window;
  const next =
    type === 'interval'
      ? nextTrigger(type, policy, latest, { ...opts, anchor: latest })!
      : nextTrigger(type, policy, now, opts)!;
  if (inWindow) return { due: true, scheduledFor: latest, skipped: missed - 1, next };
  return { due: false, skipped: lastTrigger ? missed : 0, next };
}
