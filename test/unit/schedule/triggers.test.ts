// Table tests for every policy type: next and previous triggers, month ends, leap years, the
// 31st in short months, DST in northern and southern zones, interval anchoring.
import { DateTime, Settings } from 'luxon';
import type { SchedulePolicyItemInput } from '../../../api/index.js';
import {
  freeMigrationName,
  migrationName,
  nextTrigger,
  nextTriggers,
  policyTypes,
  previousTrigger,
  statusKey,
  triggersBetween,
  type PolicyType,
} from '../../../schedule/index.js';

const at = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const iso = (t: DateTime | undefined) => (t ? new Date(t.toMillis()).toISOString() : undefined);

const seed: SchedulePolicyItemInput = {
  interval: { intervalMinutes: 1 },
  daily: { time: '10:14PM' },
  weekly: { day: 'Thursday', time: '10:13PM' },
  monthly: { date: 14, time: '8:05PM' },
};

describe('nextTrigger: strictly after `after`', () => {
  it.each<[string, PolicyType, SchedulePolicyItemInput, string, string]>([
    ['daily, later today', 'daily', seed, '2026-02-27T10:00:00Z', '2026-02-27T22:14:00.000Z'],
    [
      'daily, exactly at the trigger: the next day',
      'daily',
      seed,
      '2026-02-27T22:14:00Z',
      '2026-02-28T22:14:00.000Z',
    ],
    ['daily, one ms before', 'daily', seed, '2026-02-27T22:13:59.999Z', '2026-02-27T22:14:00.000Z'],
    ['daily, across a year end', 'daily', seed, '2026-12-31T23:00:00Z', '2027-01-01T22:14:00.000Z'],
    [
      'daily 12:00AM is midnight',
      'daily',
      { daily: { time: '12:00AM' } },
      '2026-02-27T10:00:00Z',
      '2026-02-28T00:00:00.000Z',
    ],
    [
      'daily 12:30PM is half past noon',
      'daily',
      { daily: { time: '12:30pm' } },
      '2026-02-27T10:00:00Z',
      '2026-02-27T12:30:00.000Z',
    ],
    ['weekly Thursday from a Friday', 'weekly', seed, '2026-02-27T00:00:00Z', '2026-03-05T22:13:00.000Z'],
    [
      'weekly Thursday on the Thursday before',
      'weekly',
      seed,
      '2026-02-26T22:12:00Z',
      '2026-02-26T22:13:00.000Z',
    ],
    ['weekly Thursday at the trigger', 'weekly', seed, '2026-02-26T22:13:00Z', '2026-03-05T22:13:00.000Z'],
    [
      'weekly "thurs"',
      'weekly',
      { weekly: { day: 'thurs', time: '10:13PM' } },
      '2026-02-27T00:00:00Z',
      '2026-03-05T22:13:00.000Z',
    ],
    [
      'weekly "SUN"',
      'weekly',
      { weekly: { day: 'SUN', time: '9:00am' } },
      '2026-02-27T00:00:00Z',
      '2026-03-01T09:00:00.000Z',
    ],
    ['monthly 14th', 'monthly', seed, '2026-02-27T00:00:00Z', '2026-03-14T20:05:00.000Z'],
    ['monthly 14th, same day before', 'monthly', seed, '2026-03-14T20:04:00Z', '2026-03-14T20:05:00.000Z'],
    [
      'monthly 31st after Jan 31: Feb 31 = Mar 3',
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-01-31T20:05:00Z',
      '2025-03-03T20:05:00.000Z',
    ],
    [
      'monthly 31st, leap year: Mar 2',
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2024-01-31T20:05:00Z',
      '2024-03-02T20:05:00.000Z',
    ],
    [
      'monthly 31st, after Mar 2: the rolled-over Feb trigger',
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-03-02T00:00:00Z',
      '2025-03-03T20:05:00.000Z',
    ],
    [
      'monthly 31st, after Mar 3: Mar 31',
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-03-03T20:05:00Z',
      '2025-03-31T20:05:00.000Z',
    ],
    [
      'monthly 31st in April: May 1',
      'monthly',
      { monthly: { date: 31, time: '1:00AM' } },
      '2026-04-01T00:00:00Z',
      '2026-05-01T01:00:00.000Z',
    ],
    [
      'monthly 31st after May 1: May 31',
      'monthly',
      { monthly: { date: 31, time: '1:00AM' } },
      '2026-05-01T01:00:00Z',
      '2026-05-31T01:00:00.000Z',
    ],
    [
      'monthly 30th, February, non-leap: Mar 2',
      'monthly',
      { monthly: { date: 30, time: '1:00AM' } },
      '2025-02-01T00:00:00Z',
      '2025-03-02T01:00:00.000Z',
    ],
    [
      'monthly 30th, February, leap: Mar 1',
      'monthly',
      { monthly: { date: 30, time: '1:00AM' } },
      '2024-02-01T00:00:00Z',
      '2024-03-01T01:00:00.000Z',
    ],
    [
      'monthly 29th, February, leap: Feb 29',
      'monthly',
      { monthly: { date: 29, time: '1:00AM' } },
      '2024-02-01T00:00:00Z',
      '2024-02-29T01:00:00.000Z',
    ],
    [
      'monthly 29th, February, non-leap: Mar 1',
      'monthly',
      { monthly: { date: 29, time: '1:00AM' } },
      '2025-02-01T00:00:00Z',
      '2025-03-01T01:00:00.000Z',
    ],
    [
      'monthly 29th, 2100 is not a leap year',
      'monthly',
      { monthly: { date: 29, time: '1:00AM' } },
      '2100-02-01T00:00:00Z',
      '2100-03-01T01:00:00.000Z',
    ],
    [
      'monthly 29th, 2000 is a leap year',
      'monthly',
      { monthly: { date: 29, time: '1:00AM' } },
      '2000-02-01T00:00:00Z',
      '2000-02-29T01:00:00.000Z',
    ],
    [
      'monthly 31st: Nov 31 is Dec 1',
      'monthly',
      { monthly: { date: 31, time: '11:59PM' } },
      '2026-12-01T00:00:00Z',
      '2026-12-01T23:59:00.000Z',
    ],
    [
      'monthly 31st in December: year end',
      'monthly',
      { monthly: { date: 31, time: '11:59PM' } },
      '2026-12-02T00:00:00Z',
      '2026-12-31T23:59:00.000Z',
    ],
    [
      'monthly 1st after Dec',
      'monthly',
      { monthly: { date: 1, time: '12:00AM' } },
      '2026-12-01T00:00:00Z',
      '2027-01-01T00:00:00.000Z',
    ],
    [
      'interval: after + intervalMinutes',
      'interval',
      seed,
      '2026-02-27T22:00:30Z',
      '2026-02-27T22:01:30.000Z',
    ],
    [
      'absent type: undefined',
      'daily',
      { interval: { intervalMinutes: 5 } },
      '2026-02-27T00:00:00Z',
      'undefined',
    ],
  ])('%s', (_, type, policy, after, expected) => {
    expect(String(iso(nextTrigger(type, policy, at(after))))).toBe(expected);
  });
});

describe('DST, northern and southern hemispheres', () => {
  const daily = (time: string, timezone: string): SchedulePolicyItemInput => ({ daily: { time }, timezone });
  it.each([
    [
      'New York 2:30AM, day before spring forward',
      daily('2:30AM', 'America/New_York'),
      '2026-03-07T00:00:00Z',
      '2026-03-07T07:30:00.000Z',
    ],
    [
      'New York 2:30AM on spring forward: 3:30 EDT',
      daily('2:30AM', 'America/New_York'),
      '2026-03-07T08:00:00Z',
      '2026-03-08T07:30:00.000Z',
    ],
    [
      'New York 2:30AM, day after spring forward',
      daily('2:30AM', 'America/New_York'),
      '2026-03-08T08:00:00Z',
      '2026-03-09T06:30:00.000Z',
    ],
    [
      'New York 1:30AM on fall back: first, EDT',
      daily('1:30AM', 'America/New_York'),
      '2026-10-31T12:00:00Z',
      '2026-11-01T05:30:00.000Z',
    ],
    [
      'New York 1:30AM on fall back: once only',
      daily('1:30AM', 'America/New_York'),
      '2026-11-01T05:30:00Z',
      '2026-11-02T06:30:00.000Z',
    ],
    [
      'London 1:30AM on spring forward: 2:30 BST',
      daily('1:30AM', 'Europe/London'),
      '2026-03-28T12:00:00Z',
      '2026-03-29T01:30:00.000Z',
    ],
    [
      'London 1:30AM on fall back: first, BST',
      daily('1:30AM', 'Europe/London'),
      '2026-10-24T12:00:00Z',
      '2026-10-25T00:30:00.000Z',
    ],
    [
      'London 1:30AM on fall back: once only',
      daily('1:30AM', 'Europe/London'),
      '2026-10-25T00:30:00Z',
      '2026-10-26T01:30:00.000Z',
    ],
    [
      'Sydney 2:30AM on spring forward (October)',
      daily('2:30AM', 'Australia/Sydney'),
      '2026-10-03T00:00:00Z',
      '2026-10-03T16:30:00.000Z',
    ],
    [
      'Sydney 2:30AM on fall back (April): first, AEDT',
      daily('2:30AM', 'Australia/Sydney'),
      '2026-04-04T00:00:00Z',
      '2026-04-04T15:30:00.000Z',
    ],
    [
      'Sydney 2:30AM on fall back: once only',
      daily('2:30AM', 'Australia/Sydney'),
      '2026-04-04T15:30:00Z',
      '2026-04-05T16:30:00.000Z',
    ],
    [
      'weekly Sunday 2:30AM New York on spring forward',
      { weekly: { day: 'Sunday', time: '2:30AM' }, timezone: 'America/New_York' },
      '2026-03-02T00:00:00Z',
      '2026-03-08T07:30:00.000Z',
    ],
    [
      'monthly 8th 2:30AM New York on spring forward',
      { monthly: { date: 8, time: '2:30AM' }, timezone: 'America/New_York' },
      '2026-02-09T00:00:00Z',
      '2026-03-08T07:30:00.000Z',
    ],
    [
      'monthly 5th 2:30AM Sydney on fall back',
      { monthly: { date: 5, time: '2:30AM' }, timezone: 'Australia/Sydney' },
      '2026-03-06T00:00:00Z',
      '2026-04-04T15:30:00.000Z',
    ],
  ])('%s', (_, policy, after, expected) => {
    const type = policyTypes(policy)[0]!;
    expect(iso(nextTrigger(type, policy, at(after)))).toBe(expected);
  });

  it('uses the configured default zone for a policy without timezone, never the local zone', () => {
    const saved = Settings.defaultZone;
    try {
      Settings.defaultZone = 'Asia/Tokyo';
      const policy = { daily: { time: '10:14PM' } };
      expect(iso(nextTrigger('daily', policy, at('2026-02-27T00:00:00Z')))).toBe('2026-02-27T22:14:00.000Z');
      expect(
        iso(nextTrigger('daily', policy, at('2026-02-27T00:00:00Z'), { defaultZone: 'Asia/Kolkata' })),
      ).toBe('2026-02-27T16:44:00.000Z');
    } finally {
      Settings.defaultZone = saved;
    }
  });
});

describe('previousTrigger: at or before', () => {
  it.each<[PolicyType, SchedulePolicyItemInput, string, string]>([
    ['daily', seed, '2026-02-27T22:14:00Z', '2026-02-27T22:14:00.000Z'],
    ['daily', seed, '2026-02-27T22:13:59Z', '2026-02-26T22:14:00.000Z'],
    ['weekly', seed, '2026-03-04T00:00:00Z', '2026-02-26T22:13:00.000Z'],
    [
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-03-30T00:00:00Z',
      '2025-03-03T20:05:00.000Z',
    ],
    [
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-03-03T20:04:00Z',
      '2025-01-31T20:05:00.000Z',
    ],
    [
      'monthly',
      { monthly: { date: 31, time: '8:05PM' } },
      '2025-05-01T20:05:00Z',
      '2025-05-01T20:05:00.000Z',
    ],
  ])('%s %j at %s', (type, policy, t, expected) => {
    expect(iso(previousTrigger(type, policy, at(t)))).toBe(expected);
  });
});

describe('interval', () => {
  const policy = { interval: { intervalMinutes: 10 } };
  it('is anchored on the last trigger when given', () => {
    const anchor = at('2026-02-27T22:03:00Z');
    expect(iso(nextTrigger('interval', policy, at('2026-02-27T22:30:00Z'), { anchor }))).toBe(
      '2026-02-27T22:33:00.000Z',
    );
    expect(iso(nextTrigger('interval', policy, at('2026-02-27T22:33:00Z'), { anchor }))).toBe(
      '2026-02-27T22:43:00.000Z',
    );
    expect(iso(previousTrigger('interval', policy, at('2026-02-27T22:42:59Z'), { anchor }))).toBe(
      '2026-02-27T22:33:00.000Z',
    );
  });
  it('lists triggers between two instants', () => {
    const list = triggersBetween('interval', policy, at('2026-02-27T22:00:00Z'), at('2026-02-27T22:30:00Z'));
    expect(list.map(iso)).toEqual([
      '2026-02-27T22:10:00.000Z',
      '2026-02-27T22:20:00.000Z',
      '2026-02-27T22:30:00.000Z',
    ]);
  });
});

describe('nextTriggers: merged across types', () => {
  it('sorts by time and breaks ties interval < daily < weekly < monthly', () => {
    const policy: SchedulePolicyItemInput = {
      interval: { intervalMinutes: 1440 },
      daily: { time: '12:00AM' },
      weekly: { day: 'Thu', time: '12:00AM' },
      monthly: { date: 1, time: '12:00AM' },
    };
    // 2026-01-01 is a Thursday: all four fire at midnight.
    const got = nextTriggers(policy, at('2025-12-31T00:00:00Z'), 6).map((t) => `${t.policy} ${iso(t.time)}`);
    expect(got).toEqual([
      'interval 2026-01-01T00:00:00.000Z',
      'daily 2026-01-01T00:00:00.000Z',
      'weekly 2026-01-01T00:00:00.000Z',
      'monthly 2026-01-01T00:00:00.000Z',
      'interval 2026-01-02T00:00:00.000Z',
      'daily 2026-01-02T00:00:00.000Z',
    ]);
  });
  it("merges the seed's policy", () => {
    const got = nextTriggers({ ...seed, interval: { intervalMinutes: 600 } }, at('2026-02-26T12:00:00Z'), 5);
    expect(got.map((t) => `${t.policy} ${iso(t.time)}`)).toEqual([
      'interval 2026-02-26T22:00:00.000Z',
      'weekly 2026-02-26T22:13:00.000Z',
      'daily 2026-02-26T22:14:00.000Z',
      'interval 2026-02-27T08:00:00.000Z',
      'interval 2026-02-27T18:00:00.000Z',
    ]);
  });
});

describe('names', () => {
  it('names migrations as Stork does, in UTC: <schedule>-<type>-<YYYY-MM-DD-HHMMSS>', () => {
    const t = DateTime.fromISO('2019-02-14T17:16:51-05:00', { setZone: true });
    expect(migrationName('mysqlmigrationschedule', 'daily', t)).toBe(
      'mysqlmigrationschedule-daily-2019-02-14-221651',
    );
    expect(statusKey('interval')).toBe('Interval');
  });

  it('names a migration started within the second of earlier ones for the next free second', () => {
    const at = Date.parse('2026-12-02T12:06:12.700Z');
    const none = new Set<string>();
    expect(freeMigrationName('s', 'interval', at, none)).toBe('s-interval-2026-12-02-120612');
    const taken = new Set([
      's-interval-2026-12-02-120612',
      's-interval-2026-12-02-120613',
      's-daily-2026-12-02-120614',
    ]);
    expect(freeMigrationName('s', 'interval', at, taken)).toBe('s-interval-2026-12-02-120614');
    expect(freeMigrationName('s', 'daily', at, taken)).toBe('s-daily-2026-12-02-120612');
    // across midnight and the year's end
    const eve = Date.parse('2026-12-31T23:59:59.900Z');
    expect(freeMigrationName('s', 'weekly', eve, new Set(['s-weekly-2026-12-31-235959']))).toBe(
      's-weekly-2027-01-01-000000',
    );
  });
});

describe('interval bounds', () => {
  it('the longest interval (Go time.Duration max, in minutes) still has a valid next trigger', () => {
    const after = at('2026-03-29T00:30:00Z');
    const t = nextTrigger('interval', { interval: { intervalMinutes: 153722867 } }, after);
    expect(t?.isValid).toBe(true);
    expect(t!.toMillis() - after.toMillis()).toBe(153722867 * 60_000);
  });
  it.each([153722868, 1e21])('refuses %d naming the field', (minutes) => {
    expect(() =>
      nextTrigger('interval', { interval: { intervalMinutes: minutes } }, at('2026-03-29T00:30:00Z')),
    ).toThrow(`policy.interval.intervalMinutes: ${minutes} is not valid`);
  });
});
