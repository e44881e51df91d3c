// Fuzzing SchedulePolicies: each policy type with values drawn from what users write (kitchen
// times, day names, dates, zones) and from what they should not (garbage of every type).
// Validation never throws and names a field under `policy`; a policy it accepts always yields
// triggers, strictly increasing and strictly after the instant asked about.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { formatIssue, parseKind, validateObject, type SchedulePolicyItemInput } from '../../../api/index.js';
import { nextTriggers } from '../../../schedule/index.js';
import { fuzzParams, oddValue } from '../../fuzz.js';

/** Mostly plausible values, sometimes garbage: both sides of validation get exercised. */
const mostly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: oddValue, weight: 1 });
const time = mostly(
  fc.oneof(
    fc
      .record({
        h: fc.integer({ min: 0, max: 13 }),
        m: fc.integer({ min: 0, max: 61 }),
        ap: fc.constantFrom('AM', 'PM', 'am', 'pm', ''),
      })
      .map(({ h, m, ap }) => `${h}:${String(m).padStart(2, '0')}${ap}`),
    fc.constantFrom(
      '10:14PM',
      '12:00AM',
      '12:00PM',
      '0:00',
      '23:59',
      '24:00',
      '1:5PM',
      ' 10:14PM',
      '10:14 PM',
    ),
  ),
);
const day = mostly(fc.constantFrom('Monday', 'tue', 'Wed', 'thurs', 'FRIDAY', 'sat', 'Sun', 'Funday', ''));
const int = (min: number, max: number) => mostly(fc.integer({ min, max }));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const policy = fc.record(
  {
    interval: maybe(
      fc.record({ intervalMinutes: int(-2, 100_000), retain: maybe(int(-1, 50)) }, { requiredKeys: [] }),
    ),
    daily: maybe(
      fc.record({ time, retain: maybe(int(-1, 50)), forceFullSnapshotDay: maybe(day) }, { requiredKeys: [] }),
    ),
    weekly: maybe(fc.record({ day, time, retain: maybe(int(-1, 50)) }, { requiredKeys: [] })),
    monthly: maybe(fc.record({ date: int(-1, 33), time, retain: maybe(int(-1, 50)) }, { requiredKeys: [] })),
    timezone: maybe(mostly(fc.constantFrom('UTC', 'Europe/Paris', 'America/St_Johns', 'Mars/Olympus', ''))),
    catchupWindow: maybe(mostly(fc.constantFrom('10m', '1h30m', '-5m', '0s', 'soon'))),
  },
  { requiredKeys: [] },
);

it('SchedulePolicies: never throws, errors name a policy field, accepted policies yield future triggers', () => {
  let accepted = 0;
  let refused = 0;
  const after = DateTime.fromISO('2026-03-29T00:30:00Z');
  fc.assert(
    fc.property(policy, (p) => {
      const raw = {
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'SchedulePolicy',
        metadata: { name: 'fuzz' },
        policy: JSON.parse(JSON.stringify(p)) as unknown,
      };
      const { object, issues } = validateObject(raw);
      const errors = issues.filter((i) => i.severity === 'error');
      for (const e of errors) {
        expect(e.path[0]).toBe('policy');
        expect(formatIssue(e)).toMatch(/^SchedulePolicy\/fuzz: policy(\.\S+)?: \S/);
      }
      if (!object) {
        refused++;
        return;
      }
      accepted++;
      const item = parseKind('SchedulePolicy', raw).policy as SchedulePolicyItemInput;
      const triggers = nextTriggers(item, after, 3);
      if (Object.keys(item).some((k) => ['interval', 'daily', 'weekly', 'monthly'].includes(k)))
        expect(triggers.length).toBeGreaterThan(0);
      let last = after.toMillis();
      for (const t of triggers) {
        expect(t.time.isValid).toBe(true);
        expect(t.time.toMillis()).toBeGreaterThan(after.toMillis());
        expect(t.time.toMillis()).toBeGreaterThanOrEqual(last);
        last = t.time.toMillis();
      }
    }),
    fuzzParams(1000),
  );
  expect(accepted).toBeGreaterThan(10);
  expect(refused).toBeGreaterThan(10);
});
