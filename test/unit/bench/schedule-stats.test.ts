import fc from 'fast-check';
import {
  latenessMs,
  metricValue,
  parseScheduleBenchArgs,
  parseScheduledName,
  percentile,
  scheduleOutcome,
  scheduledTimeMs,
  summarize,
} from '../../../bench/schedule-stats.js';
import { migrationName } from '../../../schedule/names.js';
import { DateTime } from 'luxon';

const at = (iso: string) => Date.parse(iso);

describe('parseScheduledName', () => {
  it.each([
    ['nightly-interval-2026-12-01-071500', 'nightly', 'interval', '2026-12-01T07:15:00Z'],
    ['my-app-sched-daily-2026-01-31-235959', 'my-app-sched', 'daily', '2026-01-31T23:59:59Z'],
    ['b1x-monthly-2024-02-29-000000', 'b1x', 'monthly', '2024-02-29T00:00:00Z'],
  ])('%s → schedule %s, type %s, %s', (name, schedule, type, iso) => {
    expect(parseScheduledName(name)).toEqual({ schedule, type, stampMs: at(iso) });
  });

  it.each([
    ['settings', 'is not <schedule>-<type>-<YYYY-MM-DD-HHMMSS>'],
    ['s-hourly-2026-12-01-071500', 'is not <schedule>'],
    ['s-interval-2026-12-01-0715', 'is not <schedule>'],
    ['s-interval-2026-02-30-071500', 'is not a UTC time'],
    ['s-interval-2026-12-01-246000', 'is not a UTC time'],
  ])('rejects %s, naming it', (name, message) => {
    expect(() => parseScheduledName(name)).toThrow(message);
    expect(() => parseScheduledName(name)).toThrow(JSON.stringify(name));
  });

  it('reads back the time of every name schedule/names.ts writes, to the second', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4102444799999 }), (ms) => {
        const name = migrationName('s', 'interval', DateTime.fromMillis(ms, { zone: 'utc' }));
        expect(parseScheduledName(name).stampMs).toBe(ms - (ms % 1000));
      }),
    );
  });
});

describe('lateness', () => {
  const name = 'app-interval-2026-12-01-071500';

  it('is the start time minus the name’s second without a phase', () => {
    expect(latenessMs(name, new Date('2026-12-01T07:15:01.250Z'))).toBe(1250);
    expect(latenessMs(name, at('2026-12-01T07:14:59.900Z'))).toBe(-100);
  });

  it('takes the milliseconds of the grid from any trigger of it (lastTrigger)', () => {
    // The grid's anchor was 07:13:00.640; the trigger in the name is two minutes later.
    const lastTrigger = at('2026-12-01T07:16:00.640Z');
    expect(scheduledTimeMs(name, lastTrigger)).toBe(at('2026-12-01T07:15:00.640Z'));
    expect(latenessMs(name, at('2026-12-01T07:15:01.250Z'), lastTrigger)).toBe(610);
  });

  it('for any grid, gives back the exact trigger time from its name and another trigger', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
        fc.integer({ min: 1, max: 1440 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 600_000 }),
        (anchor, minutes, k, j, late) => {
          const trigger = anchor + k * minutes * 60_000;
          const other = anchor + j * minutes * 60_000;
          const n = migrationName('s', 'interval', DateTime.fromMillis(trigger, { zone: 'utc' }));
          expect(scheduledTimeMs(n, other)).toBe(trigger);
          expect(latenessMs(n, trigger + late, other)).toBe(late);
        },
      ),
    );
  });

  it('rejects a start time that is not a time', () => {
    expect(() => latenessMs(name, new Date('nope'))).toThrow(`startTime of ${name}`);
  });
});

describe('percentile', () => {
  it.each([
    [[5], 50, 5],
    [[5], 99, 5],
    [[1, 2, 3, 4], 50, 2],
    [[4, 3, 2, 1], 75, 3],
    [[1, 2, 3, 4], 100, 4],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
    [Array.from({ length: 1000 }, (_, i) => 1000 - i), 99, 990],
    [Array.from({ length: 1000 }, (_, i) => i + 1), 50, 500],
  ])('of %j at p%d is %d (nearest rank)', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('is undefined for no values and rejects p outside (0, 100]', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(() => percentile([1], 0)).toThrow('p must be in (0, 100], got 0');
    expect(() => percentile([1], 101)).toThrow('got 101');
  });

  it('is a value of the list with at least p% at or below it and fewer than p% below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p) => {
          const v = percentile(values, p)!;
          expect(values).toContain(v);
          expect(values.filter((x) => x <= v).length).toBeGreaterThanOrEqual((p / 100) * values.length);
          expect(values.filter((x) => x < v).length).toBeLessThan((p / 100) * values.length);
        },
      ),
    );
  });

  it('summarize gives count, p50, p99 and max', () => {
    expect(summarize([])).toEqual({ count: 0 });
    expect(summarize([3, 1, 2, 10])).toEqual({ count: 4, p50: 2, p99: 10, max: 10 });
  });
});

describe('scheduleOutcome', () => {
  const minute = 60_000;
  // A schedule whose grid is anchored at 10:00:00.300.
  const anchor = at('2026-12-01T10:00:00.300Z');
  const child = (round: number, lateMs: number, durationMs?: number) => {
    const due = anchor + round * minute;
    return {
      name: migrationName('b1', 'interval', DateTime.fromMillis(due, { zone: 'utc' })),
      startTime: due + lateMs,
      ...(durationMs !== undefined ? { closeTime: due + lateMs + durationMs } : {}),
    };
  };

  it('measures rounds 1..R after the first trigger, with the grid’s milliseconds', () => {
    const o = scheduleOutcome({
      children: [child(2, 900), child(0, 40), child(1, 120), child(3, 70)],
      intervalMs: minute,
      rounds: 3,
      lastTriggerMs: anchor + 3 * minute,
      collectedAt: anchor + 3 * minute + 20_000,
    });
    expect(o).toEqual({ lateness: [120, 900, 70], first: 40, skipped: 0, notReached: 0 });
  });

  it('counts a round without a migration as skipped when lastTrigger passed it, else as not reached', () => {
    const collectedAt = anchor + 3 * minute + 5000;
    const skipped = scheduleOutcome({
      children: [child(0, 10), child(2, 300)],
      intervalMs: minute,
      rounds: 3,
      lastTriggerMs: anchor + 3 * minute,
      collectedAt,
    });
    expect(skipped).toEqual({ lateness: [300], first: 10, skipped: 2, notReached: 0 });
    const behind = scheduleOutcome({
      children: [child(0, 10), child(1, 300)],
      intervalMs: minute,
      rounds: 3,
      lastTriggerMs: anchor + minute,
      collectedAt,
    });
    expect(behind).toEqual({
      lateness: [300],
      first: 10,
      skipped: 0,
      notReached: 2,
      notReachedAgeMs: collectedAt - (anchor + 2 * minute),
    });
  });

  it('a schedule that never fired has every round not reached', () => {
    expect(scheduleOutcome({ children: [], intervalMs: minute, rounds: 3, collectedAt: anchor })).toEqual({
      lateness: [],
      skipped: 0,
      notReached: 3,
    });
  });

  it('rejects an interval that is not whole seconds', () => {
    expect(() => scheduleOutcome({ children: [], intervalMs: 1500, rounds: 1, collectedAt: 0 })).toThrow(
      'intervalMs: 1500',
    );
  });
});

describe('metricValue', () => {
  const text = [
    '# HELP ferry_worker_process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE ferry_worker_process_resident_memory_bytes gauge',
    'ferry_worker_process_resident_memory_bytes 187645952',
    'ferry_worker_nodejs_heap_size_used_bytes 5.1234e+07',
    'ferry_worker_nodejs_heap_space_size_used_bytes{space="old"} 1',
  ].join('\n');
  it('reads an unlabelled sample, exponents included; undefined when absent', () => {
    expect(metricValue(text, 'ferry_worker_process_resident_memory_bytes')).toBe(187645952);
    expect(metricValue(text, 'ferry_worker_nodejs_heap_size_used_bytes')).toBe(51234000);
    expect(metricValue(text, 'ferry_worker_nodejs_heap_size_total_bytes')).toBeUndefined();
  });
});

describe('parseScheduleBenchArgs', () => {
  it('defaults to 100 and 1,000 schedules, 3 rounds, every minute', () => {
    expect(parseScheduleBenchArgs([])).toEqual({
      sizes: [100, 1000],
      rounds: 3,
      intervalMinutes: 1,
      workerArgs: [],
      save: true,
      append: false,
      keep: false,
      help: false,
    });
  });
  it('reads flags with = or a separate value; worker args repeat', () => {
    const a = parseScheduleBenchArgs([
      '--schedules=250',
      '--rounds',
      '2',
      '--interval-minutes=5',
      '--worker-arg=--max-cached-workflows=2000',
      '--worker-arg',
      '--log-level=warn',
      '--no-save',
      '--active=20',
      '--append',
    ]);
    expect(a).toMatchObject({
      sizes: [250],
      rounds: 2,
      intervalMinutes: 5,
      workerArgs: ['--max-cached-workflows=2000', '--log-level=warn'],
      save: false,
      active: 20,
      append: true,
    });
  });
  it.each([
    [['--sizes', '100,x'], '--sizes: "x" is not an integer ≥ 1'],
    [['--rounds', '0'], '--rounds: "0" is not an integer ≥ 1'],
    [['--interval-minutes'], '--interval-minutes needs a value'],
    [['--bogus'], 'unknown argument "--bogus"'],
  ])('%j fails: %s', (argv, message) => {
    expect(() => parseScheduleBenchArgs(argv)).toThrow(message);
  });
});
