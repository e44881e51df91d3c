// Value syntaxes of schedule policies, shared by validation (api/kinds) and trigger math
// (schedule/): Go's time.Kitchen times, weekday names, Go durations, IANA zone names.

import { IANAZone } from 'luxon';

/** A wall-clock time of day, 24-hour. */
export interface WallTime {
  hour: number;
  minute: number;
}

/**
 * Go's time.Kitchen layout ("3:04PM") as Stork documents it: hour 1-12 (one or two digits, as Go
 * parses them), two-digit minutes 00-59, then AM/PM in upper or lower case ("1:02PM", "1:02pm").
 * Valid in JavaScript and in the apiserver's RE2.
 */
export const KITCHEN_TIME_PATTERN = '^(0?[1-9]|1[0-2]):[0-5][0-9](AM|PM|am|pm)$';
const KITCHEN = new RegExp(KITCHEN_TIME_PATTERN);

export function parseKitchenTime(text: string): WallTime | undefined {
  if (!KITCHEN.test(text)) return undefined;
  const [hh, rest] = text.split(':') as [string, string];
  const hour12 = Number(hh);
  const minute = Number(rest.slice(0, 2));
  const pm = rest.slice(2).toUpperCase() === 'PM';
  return { hour: (hour12 % 12) + (pm ? 12 : 0), minute };
}

export function kitchenTimeMessage(value: string): string {
  return `${JSON.stringify(value)} is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`;
}

/** Weekday names as Stork accepts them (long or short, any case) plus Tues, Thur, Thurs. */
const WEEKDAYS: Record<string, number> = {
  // luxon numbering: Monday = 1 ... Sunday = 7
  monday: 1,
  mon: 1,
  tuesday: 2,
  tue: 2,
  tues: 2,
  wednesday: 3,
  wed: 3,
  thursday: 4,
  thu: 4,
  thur: 4,
  thurs: 4,
  friday: 5,
  fri: 5,
  saturday: 6,
  sat: 6,
  sunday: 7,
  sun: 7,
};

/** The weekday (1 = Monday ... 7 = Sunday, as luxon numbers them) or undefined. */
export function parseWeekday(text: string): number | undefined {
  return Object.hasOwn(WEEKDAYS, text.toLowerCase()) ? WEEKDAYS[text.toLowerCase()] : undefined;
}

function anyCase(word: string): string {
  return [...word].map((c) => `[${c.toUpperCase()}${c}]`).join('');
}
/** The weekday names as a case-insensitive pattern usable by JavaScript and RE2 alike. */
export const WEEKDAY_PATTERN = `^(${Object.keys(WEEKDAYS)
  .sort((a, b) => b.length - a.length)
  .map(anyCase)
  .join('|')})$`;

export function weekdayMessage(value: string): string {
  return `${JSON.stringify(value)} is not a day of the week (e.g. Sunday or Sun, in any case)`;
}

/**
 * Go's time.ParseDuration syntax restricted to non-negative values: "1h", "30m", "1h30m",
 * "90s", "500ms", "1.5h", "0". Returns milliseconds.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$/.test(text)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const match of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/g))
    total += Number(match[1]) * unit[match[2]!]!;
  return Math.round(total);
}

/** True for an IANA time-zone name the runtime knows ("UTC", "America/New_York", ...). */
export function isTimeZoneName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name) && IANAZone.isValidZone(name);
}

/** Stork's default number of migrations kept per policy type. */
export const DEFAULT_RETAIN = { interval: 10, daily: 30, weekly: 7, monthly: 12 } as const;

/** How late a missed trigger may still fire (Stork: one hour). */
export const DEFAULT_CATCHUP_WINDOW = '1h';

/** Stork multiplies intervalMinutes by time.Minute into an int64 of nanoseconds: beyond this it
 * overflows, and far beyond it no calendar can hold the next trigger. */
export const MAX_INTERVAL_MINUTES = Math.floor((2 ** 63 - 1) / 60e9);
