// Wall time -> instant with Ferry's DST rules, in northern and southern zones (expected values
// cross-checked with Python's zoneinfo, fold=0, which follows the same two rules).
import { IANAZone, Settings } from 'luxon';
import { resolveZone, wallTimeToMillis } from '../../../schedule/index.js';

const utc = (ms: number) => new Date(ms).toISOString();

describe('wallTimeToMillis', () => {
  it.each([
    // zone, y, m, d, h, min, expected UTC, why
    ['America/New_York', 2026, 3, 8, 2, 30, '2026-03-08T07:30:00.000Z', 'spring-forward gap: 3:30 EDT'],
    ['America/New_York', 2026, 3, 8, 2, 0, '2026-03-08T07:00:00.000Z', 'start of the gap: 3:00 EDT'],
    ['America/New_York', 2026, 3, 8, 1, 59, '2026-03-08T06:59:00.000Z', 'just before the gap: EST'],
    ['America/New_York', 2026, 3, 8, 3, 0, '2026-03-08T07:00:00.000Z', 'end of the gap: EDT'],
    ['America/New_York', 2026, 11, 1, 1, 30, '2026-11-01T05:30:00.000Z', 'repeated hour: first (EDT)'],
    ['America/New_York', 2026, 11, 1, 2, 0, '2026-11-01T07:00:00.000Z', 'after the repeated hour: EST'],
    ['Europe/London', 2026, 3, 29, 1, 30, '2026-03-29T01:30:00.000Z', 'gap: 2:30 BST'],
    ['Europe/London', 2026, 10, 25, 1, 30, '2026-10-25T00:30:00.000Z', 'repeated hour: first (BST)'],
    ['Europe/London', 2026, 7, 1, 12, 0, '2026-07-01T11:00:00.000Z', 'summer: BST'],
    [
      'Australia/Sydney',
      2026,
      10,
      4,
      2,
      30,
      '2026-10-03T16:30:00.000Z',
      'southern gap in October: 3:30 AEDT',
    ],
    [
      'Australia/Sydney',
      2026,
      4,
      5,
      2,
      30,
      '2026-04-04T15:30:00.000Z',
      'southern repeated hour in April: first (AEDT)',
    ],
    ['Australia/Sydney', 2026, 7, 1, 12, 0, '2026-07-01T02:00:00.000Z', 'southern winter: AEST'],
    ['Australia/Lord_Howe', 2026, 10, 4, 2, 15, '2026-10-03T15:45:00.000Z', '30-minute gap: 2:45 +11'],
    ['Australia/Lord_Howe', 2026, 4, 5, 1, 45, '2026-04-04T14:45:00.000Z', '30-minute repeat: first (+11)'],
    ['UTC', 2025, 2, 31, 20, 5, '2025-03-03T20:05:00.000Z', 'Feb 31 rolls over to Mar 3'],
    ['UTC', 2024, 2, 31, 20, 5, '2024-03-02T20:05:00.000Z', 'Feb 31 of a leap year: Mar 2'],
    ['UTC', 2026, 4, 31, 0, 0, '2026-05-01T00:00:00.000Z', 'Apr 31: May 1'],
    ['UTC', 2026, 13, 1, 0, 0, '2027-01-01T00:00:00.000Z', 'month 13: next January'],
    ['Asia/Kolkata', 2026, 1, 1, 0, 0, '2025-12-31T18:30:00.000Z', 'half-hour offset'],
  ])('%s %d-%d-%d %d:%d -> %s (%s)', (zone, y, m, d, h, min, expected) => {
    expect(utc(wallTimeToMillis(resolveZone(zone), y, m, d, h, min))).toBe(expected);
  });

  it('does not depend on the process default zone', () => {
    const saved = Settings.defaultZone;
    try {
      Settings.defaultZone = 'Pacific/Kiritimati';
      expect(utc(wallTimeToMillis(resolveZone(undefined), 2026, 1, 1, 0, 0))).toBe(
        '2026-01-01T00:00:00.000Z',
      );
      expect(utc(wallTimeToMillis(resolveZone('America/New_York'), 2026, 11, 1, 1, 30))).toBe(
        '2026-11-01T05:30:00.000Z',
      );
    } finally {
      Settings.defaultZone = saved;
    }
  });

  it('resolves a policy zone: its timezone, else the configured default, else UTC', () => {
    expect(resolveZone(undefined).name).toBe('UTC');
    expect(resolveZone(undefined, 'Europe/London')).toEqual(IANAZone.create('Europe/London'));
    expect(resolveZone('Asia/Kolkata', 'Europe/London').name).toBe('Asia/Kolkata');
    expect(() => resolveZone('Mars/Base')).toThrow('"Mars/Base" is not an IANA time zone name');
  });
});
