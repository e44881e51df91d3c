// dueCheck: Stork's rule (fire once if the latest missed trigger is within the catch-up window,
// default 1h), skipped triggers counted, interval anchored on the last trigger.
import { DateTime } from 'luxon';
import type { SchedulePolicyItemInput } from '../../../api/index.js';
import { catchupWindowMillis, dueCheck, type PolicyType } from '../../../schedule/index.js';

const at = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const iso = (t: DateTime | undefined) => (t ? new Date(t.toMillis()).toISOString() : undefined);

const daily: SchedulePolicyItemInput = { daily: { time: '10:14PM' } };
const interval: SchedulePolicyItemInput = { interval: { intervalMinutes: 10 } };

describe('dueCheck', () => {
  it.each<
    [
      string,
      PolicyType,
      SchedulePolicyItemInput,
      string | undefined,
      string,
      boolean,
      string | undefined,
      number,
      string,
    ]
  >([
    // name, type, policy, lastTrigger, now, due, scheduledFor, skipped, next
    [
      'daily on time',
      'daily',
      daily,
      '2026-02-26T22:14:00Z',
      '2026-02-27T22:14:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      0,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily before its time',
      'daily',
      daily,
      '2026-02-26T22:14:00Z',
      '2026-02-27T22:13:59Z',
      false,
      undefined,
      0,
      '2026-02-27T22:14:00.000Z',
    ],
    [
      'daily already fired',
      'daily',
      daily,
      '2026-02-27T22:14:00Z',
      '2026-02-27T22:20:00Z',
      false,
      undefined,
      0,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily 59 min late: fires late',
      'daily',
      daily,
      '2026-02-26T22:14:00Z',
      '2026-02-27T23:13:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      0,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily exactly 1h late: fires',
      'daily',
      daily,
      '2026-02-26T22:14:00Z',
      '2026-02-27T23:14:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      0,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily 1h01 late: skipped',
      'daily',
      daily,
      '2026-02-26T22:14:00Z',
      '2026-02-27T23:15:00Z',
      false,
      undefined,
      1,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily down a week, back in window',
      'daily',
      daily,
      '2026-02-20T22:14:00Z',
      '2026-02-27T22:40:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      6,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily down a week, out of window',
      'daily',
      daily,
      '2026-02-20T22:14:00Z',
      '2026-02-28T03:00:00Z',
      false,
      undefined,
      7,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily never fired, in window',
      'daily',
      daily,
      undefined,
      '2026-02-27T22:30:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      0,
      '2026-02-28T22:14:00.000Z',
    ],
    [
      'daily never fired, out of window',
      'daily',
      daily,
      undefined,
      '2026-02-27T12:00:00Z',
      false,
      undefined,
      0,
      '2026-02-27T22:14:00.000Z',
    ],
    [
      'interval never fired: at once',
      'interval',
      interval,
      undefined,
      '2026-02-27T22:05:00Z',
      true,
      '2026-02-27T22:05:00.000Z',
      0,
      '2026-02-27T22:15:00.000Z',
    ],
    [
      'interval not yet',
      'interval',
      interval,
      '2026-02-27T22:00:00Z',
      '2026-02-27T22:09:59Z',
      false,
      undefined,
      0,
      '2026-02-27T22:10:00.000Z',
    ],
    [
      'interval on time',
      'interval',
      interval,
      '2026-02-27T22:00:00Z',
      '2026-02-27T22:10:00Z',
      true,
      '2026-02-27T22:10:00.000Z',
      0,
      '2026-02-27T22:20:00.000Z',
    ],
    [
      'interval 3 missed: latest fires',
      'interval',
      interval,
      '2026-02-27T22:00:00Z',
      '2026-02-27T22:35:00Z',
      true,
      '2026-02-27T22:30:00.000Z',
      2,
      '2026-02-27T22:40:00.000Z',
    ],
    [
      'interval longer than the window, missed by more',
      'interval',
      { interval: { intervalMinutes: 180 } },
      '2026-02-27T00:00:00Z',
      '2026-02-27T04:30:00Z',
      false,
      undefined,
      1,
      '2026-02-27T06:00:00.000Z',
    ],
    [
      'policy.catchupWindow widens the window',
      'daily',
      { daily: { time: '10:14PM' }, catchupWindow: '3h' },
      '2026-02-26T22:14:00Z',
      '2026-02-28T01:00:00Z',
      true,
      '2026-02-27T22:14:00.000Z',
      0,
      '2026-02-28T22:14:00.000Z',
    ],
  ])('%s', (_, policyType, policy, last, now, due, scheduledFor, skipped, next) => {
    const r = dueCheck({ policyType, policy, now: at(now), ...(last ? { lastTrigger: at(last) } : {}) });
    expect({ due: r.due, scheduledFor: iso(r.scheduledFor), skipped: r.skipped, next: iso(r.next) }).toEqual({
      due,
      scheduledFor,
      skipped,
      next,
    });
  });

  it('takes a window override in ms, and a catchupWindow of 0 fires only on time', () => {
    const late = {
      policyType: 'daily' as const,
      policy: daily,
      lastTrigger: at('2026-02-26T22:14:00Z'),
      now: at('2026-02-27T22:14:01Z'),
    };
    expect(dueCheck({ ...late, catchupWindow: 0 }).due).toBe(false);
    expect(dueCheck({ ...late, catchupWindow: 1000 }).due).toBe(true);
    expect(catchupWindowMillis({ daily: { time: '1:00AM' } })).toBe(3_600_000);
    expect(catchupWindowMillis({ daily: { time: '1:00AM' }, catchupWindow: '1h30m' })).toBe(5_400_000);
  });

  it('refuses a type the policy lacks', () => {
    expect(() => dueCheck({ policyType: 'weekly', policy: daily, now: at('2026-02-27T00:00:00Z') })).toThrow(
      'policy has no weekly section',
    );
  });
});
