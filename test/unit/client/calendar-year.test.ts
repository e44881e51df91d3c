// `ferry policy next` over a whole year of each policy type, against calendars written by hand
// (the day lists below were read off a 2024/2025/2026 calendar; DST dates are the published
// ones: US 2026-03-08 / 2026-11-01, Sydney 2026-04-05 / 2026-10-04).
import { FIXTURES, lines, run } from './run.js';

const FILE = `${FIXTURES}calendar/policies.yaml`;

async function year(name: string, after: string, count: number): Promise<string[]> {
  const r = await run([
    'policy',
    'next',
    '-f',
    FILE,
    '--name',
    name,
    '--after',
    after,
    '--count',
    String(count),
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return lines(r.stdout);
}

const pad = (n: number) => String(n).padStart(2, '0');
/** [month, [days...]] rows -> ISO dates */
function dates(year: number, rows: Array<[number, number[]]>): string[] {
  return rows.flatMap(([m, days]) => days.map((d) => `${year}-${pad(m)}-${pad(d)}`));
}
function everyDay(year: number): string[] {
  const out: string[] = [];
  for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
const dayBefore = (date: string) =>
  new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

describe('a year of each policy type', () => {
  it('monthly date 31, 2025: rolls over in short months (Feb 31 = Mar 3, Apr 31 = May 1, ...)', async () => {
    expect(await year('monthly-31', '2025-01-01T00:00:00Z', 12)).toEqual(
      [
        '01-31',
        '03-03',
        '03-31',
        '05-01',
        '05-31',
        '07-01',
        '07-31',
        '08-31',
        '10-01',
        '10-31',
        '12-01',
        '12-31',
      ].map((d) => `monthly 2025-${d}T20:05:00.000Z`),
    );
  });

  it('monthly date 31, 2024 (leap year): Feb 31 = Mar 2', async () => {
    expect(await year('monthly-31', '2024-01-01T00:00:00Z', 12)).toEqual(
      [
        '01-31',
        '03-02',
        '03-31',
        '05-01',
        '05-31',
        '07-01',
        '07-31',
        '08-31',
        '10-01',
        '10-31',
        '12-01',
        '12-31',
      ].map((d) => `monthly 2024-${d}T20:05:00.000Z`),
    );
  });

  it("monthly, the seed's 14@8:05PM, 2026", async () => {
    expect(await year('monthly-seed', '2026-01-01T00:00:00Z', 12)).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((m) => `monthly 2026-${pad(m)}-14T20:05:00.000Z`),
    );
  });

  it("weekly, the seed's Thursday@10:13PM: the 53 Thursdays of 2026", async () => {
    const thursdays = dates(2026, [
      [1, [1, 8, 15, 22, 29]],
      [2, [5, 12, 19, 26]],
      [3, [5, 12, 19, 26]],
      [4, [2, 9, 16, 23, 30]],
      [5, [7, 14, 21, 28]],
      [6, [4, 11, 18, 25]],
      [7, [2, 9, 16, 23, 30]],
      [8, [6, 13, 20, 27]],
      [9, [3, 10, 17, 24]],
      [10, [1, 8, 15, 22, 29]],
      [11, [5, 12, 19, 26]],
      [12, [3, 10, 17, 24, 31]],
    ]);
    expect(thursdays).toHaveLength(53);
    expect(await year('weekly-thursday', '2026-01-01T00:00:00Z', 53)).toEqual(
      thursdays.map((d) => `weekly ${d}T22:13:00.000Z`),
    );
  });

  it('weekly Sunday 2:30AM New York, 2026: EST, the skipped hour on Mar 8 (3:30 EDT), EDT, EST again from Nov 1', async () => {
    const sundays = dates(2026, [
      [1, [4, 11, 18, 25]],
      [2, [1, 8, 15, 22]],
      [3, [1, 8, 15, 22, 29]],
      [4, [5, 12, 19, 26]],
      [5, [3, 10, 17, 24, 31]],
      [6, [7, 14, 21, 28]],
      [7, [5, 12, 19, 26]],
      [8, [2, 9, 16, 23, 30]],
      [9, [6, 13, 20, 27]],
      [10, [4, 11, 18, 25]],
      [11, [1, 8, 15, 22, 29]],
      [12, [6, 13, 20, 27]],
    ]);
    const expected = sundays.map(
      (d) => `weekly ${d}T${d >= '2026-03-15' && d <= '2026-10-25' ? '06' : '07'}:30:00.000Z`,
    );
    expect(await year('weekly-sunday-new-york', '2026-01-01T05:00:00Z', 52)).toEqual(expected);
  });

  it('daily 1:30AM New York, 2026: 365 days; Mar 8 before the gap (EST), Nov 1 first of the repeated hour (EDT)', async () => {
    const expected = everyDay(2026).map(
      (d) => `daily ${d}T${d >= '2026-03-09' && d <= '2026-11-01' ? '05' : '06'}:30:00.000Z`,
    );
    expect(await year('daily-new-york', '2026-01-01T05:00:00Z', 365)).toEqual(expected);
  });

  it('daily 2:30AM Sydney, 2026: 365 days; Apr 5 first of the repeated hour (AEDT), Oct 4 skipped hour (3:30 AEDT)', async () => {
    const expected = everyDay(2026).map((d) => {
      const aest = d >= '2026-04-06' && d <= '2026-10-04'; // Oct 4: 3:30 AEDT = 2:30 AEST
      return `daily ${dayBefore(d)}T${aest ? '16' : '15'}:30:00.000Z`;
    });
    expect(await year('daily-sydney', '2025-12-31T13:00:00Z', 365)).toEqual(expected);
  });

  it('interval 10080 minutes (a week) from Jan 1 2026: 52 triggers, Jan 8 ... Dec 31', async () => {
    const got = await year('interval-week', '2026-01-01T00:00:00Z', 52);
    expect(got[0]).toBe('interval 2026-01-08T00:00:00.000Z');
    expect(got[51]).toBe('interval 2026-12-31T00:00:00.000Z');
    expect(got).toHaveLength(52);
  });
});
