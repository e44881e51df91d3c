// Property tests against an independent oracle. The oracle enumerates civil dates with luxon's
// calendar arithmetic and converts wall times with luxon's DateTime.fromObject (which shifts a
// time in a DST gap forward), then picks the first occurrence of a repeated time itself.
import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import type { SchedulePolicyItemInput } from '../../../api/index.js';
import {
  dueCheck,
  nextTrigger,
  nextTriggers,
  previousTrigger,
  type PolicyType,
} from '../../../schedule/index.js';

const RUNS = 300;
const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/London',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'America/Sao_Paulo',
  'Asia/Kolkata',
  'America/St_Johns',
  'Pacific/Chatham',
];
const DAYS = ['Monday', 'tue', 'Wednesday', 'thurs', 'Friday', 'SAT', 'sunday'];
const DAY_NUMBER = [1, 2, 3, 4, 5, 6, 7];

const kitchen = fc
  .record({ h: fc.integer({ min: 1, max: 12 }), m: fc.integer({ min: 0, max: 59 }), pm: fc.boolean() })
  .map(({ h, m, pm }) => ({
    text: `${h}:${String(m).padStart(2, '0')}${pm ? 'PM' : 'am'}`,
    hour: (h % 12) + (pm ? 12 : 0),
    minute: m,
  }));

interface Case {
  type: Exclude<PolicyType, 'interval'>;
  policy: SchedulePolicyItemInput;
  zone: string;
  hour: number;
  minute: number;
  weekday?: number;
  date?: number;
}

const calendarCase: fc.Arbitrary<Case> = fc
  .record({
    type: fc.constantFrom('daily', 'weekly', 'monthly') as fc.Arbitrary<Case['type']>,
    zone: fc.constantFrom(...ZONES),
    time: kitchen,
    day: fc.integer({ min: 0, max: 6 }),
    date: fc.integer({ min: 1, max: 31 }),
  })
  .map(({ type, zone, time, day, date }) => {
    const base = { zone, hour: time.hour, minute: time.minute };
    if (type === 'daily') return { ...base, type, policy: { daily: { time: time.text }, timezone: zone } };
    if (type === 'weekly') {
      return {
        ...base,
        type,
        weekday: DAY_NUMBER[day],
        policy: { weekly: { day: DAYS[day]!, time: time.text }, timezone: zone },
      };
    }
    return { ...base, type, date, policy: { monthly: { date, time: time.text }, timezone: zone } };
  });

// 2000-01-01 .. 2040-01-01
const instant = fc
  .integer({ min: 946_684_800_000, max: 2_208_988_800_000 })
  .map((ms) => DateTime.fromMillis(ms, { zone: 'utc' }));

function oracleWall(zone: string, civil: DateTime, hour: number, minute: number): number {
  const fields = { year: civil.year, month: civil.month, day: civil.day, hour, minute };
  let t = DateTime.fromObject(fields, { zone });
  for (const back of [30, 60, 90, 120, 180]) {
    const earlier = t.minus({ minutes: back });
    if (
      earlier.year === fields.year &&
      earlier.month === fields.month &&
      earlier.day === fields.day &&
      earlier.hour === hour &&
      earlier.minute === minute
    ) {
      t = earlier;
    }
  }
  return t.toMillis();
}

/** Every trigger of the case whose civil date lies in [from - margin, to + margin] (margin: 2 days, 2 months for monthly). */
function oracleTriggers(c: Case, from: number, to: number): number[] {
  const margin = c.type === 'monthly' ? { months: 2 } : { days: 2 };
  const start = DateTime.fromMillis(from, { zone: 'utc' })
    .minus(margin)
    .startOf(c.type === 'monthly' ? 'month' : 'day');
  const end = DateTime.fromMillis(to, { zone: 'utc' }).plus(margin);
  const out: number[] = [];
  if (c.type === 'monthly') {
    for (let m = start; m <= end; m = m.plus({ months: 1 })) {
      out.push(oracleWall(c.zone, m.plus({ days: c.date! - 1 }), c.hour, c.minute));
    }
  } else {
    for (let d = start; d <= end; d = d.plus({ days: 1 })) {
      if (c.type === 'weekly' && d.weekday !== c.weekday) continue;
      out.push(oracleWall(c.zone, d, c.hour, c.minute));
    }
  }
  return out.sort((a, b) => a - b);
}

describe('calendar types against the oracle', () => {
  it('next trigger is strictly after `after`, is a trigger of the policy, and none lies between it and `after` or the one after it', () => {
    fc.assert(
      fc.property(calendarCase, instant, (c, after) => {
        const t1 = nextTrigger(c.type, c.policy, after)!.toMillis();
        const t2 = nextTrigger(c.type, c.policy, DateTime.fromMillis(t1))!.toMillis();
        const all = oracleTriggers(c, after.toMillis(), t2);
        const firstAfter = (x: number) => all.find((s) => s > x);
        expect(t1).toBeGreaterThan(after.toMillis());
        expect(t1).toBe(firstAfter(after.toMillis()));
        expect(t2).toBe(firstAfter(t1));
      }),
      { numRuns: RUNS },
    );
  });

  it('previous trigger is the last trigger at or before the instant', () => {
    fc.assert(
      fc.property(calendarCase, instant, (c, t) => {
        const p = previousTrigger(c.type, c.policy, t)!.toMillis();
        const all = oracleTriggers(
          c,
          t.toMillis() - (c.type === 'monthly' ? 0 : 8 * 86_400_000),
          t.toMillis(),
        );
        expect(p).toBe(all.filter((s) => s <= t.toMillis()).at(-1));
      }),
      { numRuns: RUNS },
    );
  });
});

// Cases aimed at DST: `after` shortly before a transition of the zone and the policy's time in
// the local hours around it, so gaps and repeated hours are hit on most runs.
const DST_ZONES = [
  'America/New_York',
  'Europe/London',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'America/Sao_Paulo',
  'Pacific/Chatham',
];

const transitionCache = new Map<string, number[]>();
function transitions(zone: string, year: number): number[] {
  const key = `${zone} ${year}`;
  if (!transitionCache.has(key)) transitionCache.set(key, findTransitions(zone, year));
  return transitionCache.get(key)!;
}

function findTransitions(zone: string, year: number): number[] {
  const z = IANAZone.create(zone);
  const out: number[] = [];
  let t = Date.UTC(year, 0, 1, 12);
  for (let day = 0; day < 366; day++, t += 86_400_000) {
    if (z.offset(t) === z.offset(t + 86_400_000)) continue;
    let lo = t;
    let hi = t + 86_400_000;
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (z.offset(mid) === z.offset(lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

const dstCase: fc.Arbitrary<[Case, DateTime]> = fc
  .record({
    zone: fc.constantFrom(...DST_ZONES),
    year: fc.integer({ min: 2000, max: 2039 }),
    pick: fc.nat(),
    daysBefore: fc.integer({ min: 0, max: 3 * 86_400_000 }),
    hourShift: fc.integer({ min: -1, max: 1 }),
    minute: fc.integer({ min: 0, max: 59 }),
    type: fc.constantFrom('daily', 'weekly', 'monthly') as fc.Arbitrary<Case['type']>,
  })
  .filter(({ zone, year }) => transitions(zone, year).length > 0)
  .map(({ zone, year, pick, daysBefore, hourShift, minute, type }) => {
    const list = transitions(zone, year);
    const tr = list[pick % list.length]!;
    const local = DateTime.fromMillis(tr - 60_000, { zone });
    const hour = (local.hour + hourShift + 24) % 24;
    const text = `${hour % 12 === 0 ? 12 : hour % 12}:${String(minute).padStart(2, '0')}${hour >= 12 ? 'PM' : 'AM'}`;
    const after = DateTime.fromMillis(tr - daysBefore, { zone: 'utc' });
    const base = { zone, hour, minute };
    const localDay = DateTime.fromMillis(tr, { zone });
    let c: Case;
    if (type === 'daily') c = { ...base, type, policy: { daily: { time: text }, timezone: zone } };
    else if (type === 'weekly') {
      c = {
        ...base,
        type,
        weekday: localDay.weekday,
        policy: {
          weekly: { day: localDay.toFormat('cccc', { locale: 'en-US' }), time: text },
          timezone: zone,
        },
      };
    } else
      c = {
        ...base,
        type,
        date: localDay.day,
        policy: { monthly: { date: localDay.day, time: text }, timezone: zone },
      };
    return [c, after];
  });

describe('calendar types around DST transitions', () => {
  it('next and previous triggers agree with the oracle', () => {
    fc.assert(
      fc.property(dstCase, ([c, after]) => {
        const t1 = nextTrigger(c.type, c.policy, after)!.toMillis();
        const t2 = nextTrigger(c.type, c.policy, DateTime.fromMillis(t1))!.toMillis();
        const all = oracleTriggers(c, after.toMillis() - 8 * 86_400_000, t2);
        expect(t1).toBe(all.find((s) => s > after.toMillis()));
        expect(t2).toBe(all.find((s) => s > t1));
        expect(previousTrigger(c.type, c.policy, DateTime.fromMillis(t1 - 1))!.toMillis()).toBe(
          all.filter((s) => s < t1).at(-1),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('interval', () => {
  it('triggers lie on the anchor grid, the next strictly after `after` with none between', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        instant,
        fc.integer({ min: -1e10, max: 1e10 }),
        (minutes, after, shift) => {
          const step = minutes * 60_000;
          const anchor = DateTime.fromMillis(after.toMillis() + shift);
          const t = nextTrigger('interval', { interval: { intervalMinutes: minutes } }, after, {
            anchor,
          })!.toMillis();
          expect(t).toBeGreaterThan(after.toMillis());
          expect(t - step).toBeLessThanOrEqual(after.toMillis());
          expect((((t - anchor.toMillis()) % step) + step) % step).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('whole policies', () => {
  const policy = fc
    .record({
      interval: fc.option(fc.integer({ min: 1, max: 50_000 }), { nil: undefined }),
      daily: fc.option(kitchen, { nil: undefined }),
      weekly: fc.option(fc.tuple(fc.constantFrom(...DAYS), kitchen), { nil: undefined }),
      monthly: fc.option(fc.tuple(fc.integer({ min: 1, max: 31 }), kitchen), { nil: undefined }),
      zone: fc.constantFrom(...ZONES),
    })
    .filter(
      (p) =>
        p.interval !== undefined ||
        p.daily !== undefined ||
        p.weekly !== undefined ||
        p.monthly !== undefined,
    )
    .map((p): SchedulePolicyItemInput => ({
      timezone: p.zone,
      ...(p.interval !== undefined ? { interval: { intervalMinutes: p.interval } } : {}),
      ...(p.daily ? { daily: { time: p.daily.text } } : {}),
      ...(p.weekly ? { weekly: { day: p.weekly[0], time: p.weekly[1].text } } : {}),
      ...(p.monthly ? { monthly: { date: p.monthly[0], time: p.monthly[1].text } } : {}),
    }));

  it('merged next triggers are sorted, strictly after `after`, and each type in order with none skipped', () => {
    fc.assert(
      fc.property(policy, instant, fc.integer({ min: 1, max: 12 }), (p, after, count) => {
        const got = nextTriggers(p, after, count);
        expect(got).toHaveLength(count);
        for (let i = 1; i < got.length; i++)
          expect(got[i]!.time.toMillis()).toBeGreaterThanOrEqual(got[i - 1]!.time.toMillis());
        for (const type of ['interval', 'daily', 'weekly', 'monthly'] as const) {
          let prev: DateTime = after;
          for (const t of got.filter((g) => g.policy === type)) {
            const anchor = type === 'interval' ? { anchor: after } : {};
            expect(t.time.toMillis()).toBe(nextTrigger(type, p, prev, anchor)!.toMillis());
            prev = t.time;
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a due trigger is after the last one, not in the future, and within the window; next is after now', () => {
    fc.assert(
      fc.property(calendarCase, instant, fc.integer({ min: 0, max: 40 * 86_400_000 }), (c, last, gap) => {
        const now = DateTime.fromMillis(last.toMillis() + gap, { zone: 'utc' });
        const r = dueCheck({ policyType: c.type, policy: c.policy, lastTrigger: last, now });
        expect(r.next.toMillis()).toBeGreaterThan(now.toMillis());
        if (r.due) {
          const s = r.scheduledFor!.toMillis();
          expect(s).toBeGreaterThan(last.toMillis());
          expect(s).toBeLessThanOrEqual(now.toMillis());
          expect(now.toMillis() - s).toBeLessThanOrEqual(3_600_000);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
