// Table tests for every SchedulePolicy validation rule (Stork's plus Ferry's optional fields).
import { FORCE_FULL_SNAPSHOT_DAY_IGNORED, POLICY_OPTIONS_IGNORED } from '../../../api/index.js';
import { check, policyYaml } from './helpers.js';

const KITCHEN = `is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`;

describe('policy times: Go time.Kitchen, hour 1-12, minutes 00-59, PM or pm', () => {
  it.each(['1:02PM', '1:02pm', '12:00AM', '12:59pm', '01:30AM', '9:00am', '11:59PM', '10:14PM'])(
    'accepts %s',
    (time) => {
      expect(check(policyYaml(`daily:\n  time: "${time}"`)).errors).toEqual([]);
    },
  );

  it.each([
    '0:30PM',
    '13:00PM',
    '25:00PM',
    '1:60PM',
    '1:2PM',
    '1:02',
    '22:13',
    '1:02 PM',
    '1:02Pm',
    '1:02PMX',
    ' 1:02PM',
    '',
    'noon',
    '001:02PM',
  ])('rejects %j, naming the field and the value', (time) => {
    expect(check(policyYaml(`daily:\n  time: "${time}"`)).errors).toEqual([
      `SchedulePolicy/p: policy.daily.time: ${JSON.stringify(time)} ${KITCHEN}`,
    ]);
  });

  it.each([
    ['weekly:\n  day: Sun\n  time: "7PM"', 'policy.weekly.time', '"7PM"'],
    ['monthly:\n  date: 1\n  time: "7:00"', 'policy.monthly.time', '"7:00"'],
  ])('checks the time of every type: %j', (policy, path, value) => {
    expect(check(policyYaml(policy)).errors).toEqual([`SchedulePolicy/p: ${path}: ${value} ${KITCHEN}`]);
  });

  it('rejects a time that is not a string', () => {
    expect(check(policyYaml('daily:\n  time: 1200')).errors).toEqual([
      'SchedulePolicy/p: policy.daily.time: 1200 is not a string (got an integer); quote it: "1200"',
    ]);
  });
});

describe('weekdays: long or short, any case, plus Tues, Thur, Thurs', () => {
  it.each([
    'Sunday',
    'sun',
    'SUNDAY',
    'sUn',
    'Monday',
    'mon',
    'Tuesday',
    'tue',
    'Tues',
    'Wednesday',
    'wed',
    'Thursday',
    'thu',
    'Thur',
    'Thurs',
    'THURS',
    'Friday',
    'fri',
    'Saturday',
    'sat',
  ])('accepts %s', (day) => {
    expect(check(policyYaml(`weekly:\n  day: "${day}"\n  time: "10:13PM"`)).errors).toEqual([]);
  });

  it.each(['Thorsday', 'Su', 'Weds', '', 'Sundays', '1', 'Thursday '])('rejects %j', (day) => {
    expect(check(policyYaml(`weekly:\n  day: "${day}"\n  time: "10:13PM"`)).errors).toEqual([
      `SchedulePolicy/p: policy.weekly.day: ${JSON.stringify(day)} is not a day of the week (e.g. Sunday or Sun, in any case)`,
    ]);
  });

  it('requires day and time', () => {
    expect(check(policyYaml('weekly:\n  retain: 2')).errors).toEqual([
      'SchedulePolicy/p: policy.weekly.day: required field is missing',
      'SchedulePolicy/p: policy.weekly.time: required field is missing',
    ]);
  });
});

describe('monthly date: 1-31', () => {
  it.each([1, 14, 28, 29, 30, 31])('accepts %d', (date) => {
    expect(check(policyYaml(`monthly:\n  date: ${date}\n  time: "8:05PM"`)).errors).toEqual([]);
  });
  it.each([0, 32, -1, 100])('rejects %d', (date) => {
    expect(check(policyYaml(`monthly:\n  date: ${date}\n  time: "8:05PM"`)).errors).toEqual([
      `SchedulePolicy/p: policy.monthly.date: ${date} is not a valid date of the month: must be between 1 and 31`,
    ]);
  });
  it.each([
    ['"14"', '"14" is not an integer (got a string)'],
    ['1.5', '1.5 is not an integer (got a number)'],
  ])('rejects a date that is not an integer: %s', (date, message) => {
    expect(check(policyYaml(`monthly:\n  date: ${date}\n  time: "8:05PM"`)).errors).toEqual([
      `SchedulePolicy/p: policy.monthly.date: ${message}`,
    ]);
  });
});

describe('intervalMinutes >= 1', () => {
  it.each([1, 60, 10080])('accepts %d', (n) => {
    expect(check(policyYaml(`interval:\n  intervalMinutes: ${n}`)).errors).toEqual([]);
  });
  it.each([0, -5])('rejects %d', (n) => {
    expect(check(policyYaml(`interval:\n  intervalMinutes: ${n}`)).errors).toEqual([
      `SchedulePolicy/p: policy.interval.intervalMinutes: ${n} is not a valid interval: must be at least 1 minute`,
    ]);
  });
  it.each([153722868, 1e21])('rejects %d, too long for a Go duration and a calendar', (n) => {
    expect(check(policyYaml(`interval:\n  intervalMinutes: ${n}`)).errors).toEqual([
      `SchedulePolicy/p: policy.interval.intervalMinutes: ${n} is not a valid interval: must be at most 153722867 minutes (about 292 years)`,
    ]);
  });
  it('accepts the longest interval, and its next trigger is a valid time', () => {
    expect(check(policyYaml('interval:\n  intervalMinutes: 153722867')).errors).toEqual([]);
  });
  it('requires intervalMinutes', () => {
    expect(check(policyYaml('interval:\n  retain: 3')).errors).toEqual([
      'SchedulePolicy/p: policy.interval.intervalMinutes: required field is missing',
    ]);
  });
});

describe("retain >= 1 with Stork's defaults", () => {
  it.each([
    ['interval', 'interval:\n  intervalMinutes: 5', 10],
    ['daily', 'daily:\n  time: "1:00AM"', 30],
    ['weekly', 'weekly:\n  day: sun\n  time: "1:00AM"', 7],
    ['monthly', 'monthly:\n  date: 1\n  time: "1:00AM"', 12],
  ] as const)('defaults %s retain to %d', (type, policy, retain) => {
    const [p] = check(policyYaml(policy)).objects;
    expect(p?.kind === 'SchedulePolicy' && p.policy[type]?.retain).toBe(retain);
  });
  it('keeps an explicit retain', () => {
    const [p] = check(policyYaml('daily:\n  time: "1:00AM"\n  retain: 3')).objects;
    expect(p?.kind === 'SchedulePolicy' && p.policy.daily?.retain).toBe(3);
  });
  it.each([0, -1])('rejects %d', (n) => {
    expect(check(policyYaml(`monthly:\n  date: 1\n  time: "1:00AM"\n  retain: ${n}`)).errors).toEqual([
      `SchedulePolicy/p: policy.monthly.retain: ${n} is not a valid retain count: must be at least 1`,
    ]);
  });
});

describe('timezone (beyond Stork): an IANA name', () => {
  it.each(['UTC', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'Asia/Kolkata', 'Etc/GMT+5'])(
    'accepts %s',
    (tz) => {
      expect(check(policyYaml(`daily:\n  time: "1:00AM"\ntimezone: ${tz}`)).errors).toEqual([]);
    },
  );
  it.each(['Mars/Olympus_Mons', '+05:00', '', 'America/New_Yorkk', 'local'])('rejects %j', (tz) => {
    expect(check(policyYaml(`daily:\n  time: "1:00AM"\ntimezone: "${tz}"`)).errors).toEqual([
      `SchedulePolicy/p: policy.timezone: ${JSON.stringify(tz)} is not an IANA time zone name (e.g. UTC, America/New_York)`,
    ]);
  });
});

describe('catchupWindow (beyond Stork): a Go duration', () => {
  it.each(['1h', '30m', '1h30m', '0s', '90s', '0', '1.5h', '500ms'])('accepts %s', (d) => {
    expect(check(policyYaml(`daily:\n  time: "1:00AM"\ncatchupWindow: "${d}"`)).errors).toEqual([]);
  });
  it.each(['1 hour', '-1h', 'h', '', '1d'])('rejects %j', (d) => {
    expect(check(policyYaml(`daily:\n  time: "1:00AM"\ncatchupWindow: "${d}"`)).errors).toEqual([
      `SchedulePolicy/p: policy.catchupWindow: ${JSON.stringify(d)} is not a duration (e.g. 1h, 30m, 1h30m, 90s)`,
    ]);
  });
});

describe('policy shape', () => {
  it('requires at least one type', () => {
    expect(check(policyYaml('timezone: UTC')).errors).toEqual([
      'SchedulePolicy/p: policy: must set at least one of interval, daily, weekly, monthly',
    ]);
  });
  it('requires policy', () => {
    const yaml =
      'apiVersion: stork.libopenstorage.org/v1alpha1\nkind: SchedulePolicy\nmetadata:\n  name: p\n';
    expect(check(yaml).errors).toEqual(['SchedulePolicy/p: policy: required field is missing']);
  });
  it('reports unknown fields with a hint instead of dropping them', () => {
    expect(
      check(policyYaml('dialy:\n  time: "1:00AM"\ninterval:\n  intervalMinutes: 1\n  every: 3')).errors,
    ).toEqual([
      'SchedulePolicy/p: policy.dialy: unknown field (did you mean "daily"?)',
      'SchedulePolicy/p: policy.interval.every: unknown field',
    ]);
  });
  it('reports a policy under spec (a common mistake) as an unknown field', () => {
    const yaml =
      'apiVersion: stork.libopenstorage.org/v1alpha1\nkind: SchedulePolicy\nmetadata:\n  name: p\nspec:\n  policy: {}\n';
    expect(check(yaml).errors).toEqual([
      'SchedulePolicy/p: spec: unknown field',
      'SchedulePolicy/p: policy: required field is missing',
    ]);
  });
  it('accepts NamespacedSchedulePolicy with the same rules', () => {
    const yaml = policyYaml('daily:\n  time: "25:00PM"').replace(
      'kind: SchedulePolicy',
      'kind: NamespacedSchedulePolicy',
    );
    expect(check(yaml).errors).toEqual([
      `NamespacedSchedulePolicy/p: policy.daily.time: "25:00PM" ${KITCHEN}`,
    ]);
  });
  it('warns, without failing, about a namespace on the cluster-scoped SchedulePolicy', () => {
    const { errors, warnings } = check(
      policyYaml('daily:\n  time: "1:00AM"').replace('  name: p', '  name: p\n  namespace: mysql'),
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      'SchedulePolicy/p: metadata.namespace: "mysql" is ignored: SchedulePolicy is cluster-scoped',
    ]);
  });
});

describe("Stork's driver-only policy fields: stored, ignored, one warning each", () => {
  it('warns about non-empty options and a forceFullSnapshotDay, not about empty ones', () => {
    const quiet = check(
      policyYaml(
        'daily:\n  time: 1:00AM\n  options: {}\n  forceFullSnapshotDay: ""\ninterval:\n  intervalMinutes: 5\n  options: null',
      ),
    );
    expect(quiet.errors).toEqual([]);
    expect(quiet.warnings).toEqual([]);
    const loud = check(
      policyYaml(
        'daily:\n  time: 1:00AM\n  forceFullSnapshotDay: sun\n  options: {a: b}\nweekly:\n  day: Mon\n  time: 1:00AM\n  options: {c: d}\nmonthly:\n  date: 1\n  time: 1:00AM\n  options: {e: f}',
      ),
    );
    expect(loud.errors).toEqual([]);
    expect(loud.warnings).toEqual([
      `SchedulePolicy/p: policy.daily.options: ${POLICY_OPTIONS_IGNORED}`,
      `SchedulePolicy/p: policy.daily.forceFullSnapshotDay: ${FORCE_FULL_SNAPSHOT_DAY_IGNORED}`,
      `SchedulePolicy/p: policy.weekly.options: ${POLICY_OPTIONS_IGNORED}`,
      `SchedulePolicy/p: policy.monthly.options: ${POLICY_OPTIONS_IGNORED}`,
    ]);
    const p = loud.objects[0];
    expect(p?.kind === 'SchedulePolicy' && p.policy.daily).toEqual({
      time: '1:00AM',
      retain: 30,
      forceFullSnapshotDay: 'sun',
      options: { a: 'b' },
    });
  });
});
