// storkctl's migration schedule columns (STORK-COMPAT.md), the -o wide cells, and the progress
// lines of `watch migration`, as pure functions over objects shaped as the server returns them.
import fc from 'fast-check';
import { lastSuccess, scheduleRow, scheduleWideRow } from '../../../client/cli/columns.js';
import {
  finalLine,
  humanBytes,
  newRates,
  pipeLines,
  redraw,
  shortDuration,
  terminalLines,
} from '../../../client/cli/progress.js';
import type { MigrationProgress } from '../../../client/sdk.js';

const item = (name: string, status: string, created: string, finished?: string) => ({
  name,
  status,
  creationTimestamp: created,
  ...(finished !== undefined ? { finishTimestamp: finished } : {}),
});

const sched = (items: Record<string, unknown[]>, suspend?: boolean) => ({
  metadata: { name: 's1', namespace: 'mysql' },
  spec: {
    schedulePolicyName: 'every-15',
    template: { spec: { clusterPair: 'remote', namespaces: ['mysql'] } },
    ...(suspend !== undefined ? { suspend } : {}),
  },
  status: { items },
});

describe('scheduleRow', () => {
  it.each([
    ['no status at all', { metadata: { name: 's1' }, spec: {} }, ['s1', '', '', 'false', '', '']],
    [
      'no success yet',
      sched({ Interval: [item('a', 'InProgress', '2026-12-01T10:00:00Z')] }),
      ['s1', 'every-15', 'remote', 'false', '', ''],
    ],
    [
      'the successful item that finished last, of any type',
      sched(
        {
          Interval: [
            item('i1', 'Successful', '2026-12-01T10:00:00Z', '2026-12-01T10:01:30Z'),
            item('i2', 'Failed', '2026-12-01T11:00:00Z', '2026-12-01T11:05:00Z'),
          ],
          Daily: [item('d1', 'Successful', '2026-12-01T09:00:00Z', '2026-12-01T10:30:00.5Z')],
        },
        true,
      ),
      ['s1', 'every-15', 'remote', 'true', '01 Dec 26 10:30 UTC', '1h30m0.5s'],
    ],
    [
      'PartialSuccess is not a success',
      sched({ Weekly: [item('w', 'PartialSuccess', '2026-12-01T10:00:00Z', '2026-12-01T10:01:00Z')] }),
      ['s1', 'every-15', 'remote', 'false', '', ''],
    ],
  ])('%s', (_what, s, row) => {
    expect(scheduleRow(s)).toEqual(row);
  });

  it('property: LAST-SUCCESS is the latest finish among Successful items', () => {
    const arbItem = fc.record({
      status: fc.constantFrom('Successful', 'Failed', 'InProgress'),
      created: fc.integer({ min: 0, max: 1e9 }),
      took: fc.integer({ min: 0, max: 1e7 }),
    });
    fc.assert(
      fc.property(fc.array(arbItem, { maxLength: 12 }), (list) => {
        const base = Date.parse('2026-01-01T00:00:00Z');
        const items = list.map((i, n) =>
          item(
            `m${n}`,
            i.status,
            new Date(base + i.created).toISOString(),
            new Date(base + i.created + i.took).toISOString(),
          ),
        );
        const best = lastSuccess(sched({ Interval: items }));
        const ok = items.filter((i) => i.status === 'Successful');
        if (ok.length === 0) return best === undefined;
        const max = Math.max(...ok.map((i) => Date.parse(i.finishTimestamp!)));
        return best !== undefined && Date.parse(best.finishTimestamp) === max;
      }),
    );
  });
});

describe('scheduleWideRow', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  it('RPO is the age of the newest successful creation; NEXT-TRIGGER from the workflow', () => {
    const s = sched({
      Interval: [
        item('old', 'Successful', '2026-12-01T11:00:00Z', '2026-12-01T11:59:00Z'),
        item('new', 'Successful', '2026-12-01T11:55:00Z', '2026-12-01T11:56:00Z'),
        item('bad', 'Failed', '2026-12-01T11:58:00Z', '2026-12-01T11:58:30Z'),
      ],
    });
    expect(scheduleWideRow(s, now, '2026-12-01T12:10:00.000Z').slice(6)).toEqual([
      '5m',
      '01 Dec 26 12:10 UTC',
    ]);
    expect(scheduleWideRow(s, now, undefined).slice(6)).toEqual(['5m', '<unknown>']);
    expect(scheduleWideRow(s, now, '').slice(6)).toEqual(['5m', '<none>']);
    expect(scheduleWideRow(sched({}), now, undefined).slice(6)).toEqual(['<none>', '<unknown>']);
  });
});

describe('watch migration lines', () => {
  const progress = (
    stage: string,
    status: string,
    done: number,
    at: number,
    live = true,
  ): MigrationProgress => ({
    at,
    final: stage === 'Final',
    status: { stage, status, reason: status === 'Failed' ? 'volume x: agent gone' : '' } as never,
    volumes: [
      {
        namespace: 'db',
        pvc: 'data',
        volume: 'vol-1',
        status: live ? 'Pending' : status,
        bytesDone: done,
        bytesTotal: 10 * 1024 * 1024,
        live,
      },
    ],
  });

  it('a terminal gets bytes, rate and ETA, redrawn in place', () => {
    const rates = newRates();
    terminalLines('m1', progress('Volumes', 'InProgress', 0, 1000), rates);
    const lines = terminalLines('m1', progress('Volumes', 'InProgress', 2 * 1024 * 1024, 3000), rates);
    expect(lines).toEqual([
      'Migration m1: Volumes InProgress',
      '  db/data  Pending  2.0 MiB / 10.0 MiB 20%  1.0 MiB/s  ETA 8s',
    ]);
    expect(redraw(2, lines)).toBe(`\x1b[2F\x1b[2KMigration m1: Volumes InProgress\n\x1b[2K${lines[1]}\n`);
    expect(redraw(0, ['a'])).toBe('\x1b[2Ka\n');
  });

  it('a pipe gets a line per change only, never escape codes', () => {
    const seen = new Map<string, string>();
    expect(pipeLines('m1', progress('Volumes', 'InProgress', 0, 1000), seen)).toEqual([
      'Migration m1: stage Volumes, status InProgress',
      'Volume db/data (vol-1): Pending, 0 bytes',
    ]);
    expect(pipeLines('m1', progress('Volumes', 'InProgress', 5, 2000), seen)).toEqual([]);
    expect(pipeLines('m1', progress('Final', 'Successful', 10, 3000, false), seen)).toEqual([
      'Migration m1: stage Final, status Successful',
      'Volume db/data (vol-1): Successful, 10 bytes',
    ]);
  });

  it("ends with Stork's --wait wording and the exit code", () => {
    expect(finalLine('m1', progress('Final', 'Successful', 1, 1, false))).toEqual({
      line: 'Migration m1 completed successfully',
      code: 0,
    });
    expect(finalLine('m1', progress('Final', 'Failed', 1, 1, false))).toEqual({
      line: 'Migration m1 failed',
      reason: 'volume x: agent gone',
      code: 1,
    });
  });

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [5 * 1024 ** 3, '5.0 GiB'],
  ])('humanBytes(%d) = %s', (n, text) => expect(humanBytes(n)).toBe(text));

  it.each([
    [0.2, '0s'],
    [59, '59s'],
    [61, '1m1s'],
    [3725, '1h2m5s'],
  ])('shortDuration(%d) = %s', (s, text) => expect(shortDuration(s)).toBe(text));
});
