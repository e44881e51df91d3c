// Wall-clock time in a zone -> instant, deterministically, with Ferry's DST rules:
//   * a wall time inside a skipped hour (spring forward) is shifted forward by the gap
//     (2:30AM on a day when 2:00 jumps to 3:00 is 3:30AM, like luxon and Python's fold=0);
//   * a wall time inside a repeated hour (fall back) is its first occurrence.
// Days and months overflow as in Go's time.Date / JavaScript's Date.UTC: day 31 of February is
// March 3 (March 2 in a leap year), day 0 is the last day of the previous month.
// luxon's own local->UTC conversion is not used for this: for a repeated hour its answer depends
// on the offset in effect at the moment the code runs.

import { FixedOffsetZone, IANAZone, type Zone } from 'luxon';

const DAY_MS = 86_400_000;

/** The zone of a policy: its `timezone`, else `defaultZone` (UTC unless configured otherwise). */
export function resolveZone(name: string | undefined, defaultZone = 'UTC'): Zone {
  const zoneName = name ?? defaultZone;
  if (zoneName.toUpperCase() === 'UTC') return FixedOffsetZone.utcInstance;
  const zone = IANAZone.create(zoneName);
  if (!zone.isValid) throw new Error(`${JSON.stringify(zoneName)} is not an IANA time zone name`);
  return zone;
}

/**
 * The instant (ms since the epoch) of wall time year-month-day hour:minute in `zone`.
 * `month` is 1-based; month and day may overflow (they are normalised first).
 */
export function wallTimeToMillis(
  zone: Zone,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  if (zone.isUniversal) return wall - zone.offset(wall) * 60_000;
  const offsets = new Set([zone.offset(wall - DAY_MS), zone.offset(wall), zone.offset(wall + DAY_MS)]);
  const candidates = [...offsets].map((o) => wall - o * 60_000);
  const valid = candidates.filter((utc) => zone.offset(utc) * 60_000 === wall - utc);
  // Several valid: a repeated hour, take the first occurrence. None: a gap, shift forward.
  return valid.length > 0 ? Math.min(...valid) : Math.max(...candidates);
}

/** Civil date (year, 1-based month, day) of an instant in a zone. */
export function civilDate(zone: Zone, millis: number): { year: number; month: number; day: number } {
  const local = new Date(millis + zone.offset(millis) * 60_000);
  return { year: local.getUTCFullYear(), month: local.getUTCMonth() + 1, day: local.getUTCDate() };
}

/** Weekday of a (possibly overflowing) civil date, numbered as luxon does: Monday 1 ... Sunday 7. */
export function weekdayOf(year: number, month: number, day: number): number {
  const dow = new Date(Date.UTC(year, month - 1, day)).getUTCDay(); // Sunday 0
  return dow === 0 ? 7 : dow;
}
