// storkctl's migration and cluster pair columns, cell by cell, and `get` printing them.
import { clusterPairRow, migrationRow, rfc822 } from '../../../client/cli/columns.js';
import { FIXTURES, lines, run } from './run.js';

describe('rfc822', () => {
  it.each([
    ['2026-12-01T14:05:09Z', '01 Dec 26 14:05 UTC'],
    ['2006-01-02T15:04:05Z', '02 Jan 06 15:04 UTC'],
    ['2026-02-26T23:30:00-02:00', '27 Feb 26 01:30 UTC'],
    ['2030-07-09T00:00:00.123Z', '09 Jul 30 00:00 UTC'],
    [undefined, ''],
    [null, ''],
    ['not a time', ''],
  ])('%s → "%s"', (time, expected) => {
    expect(rfc822(time)).toBe(expected);
  });
});

describe('migrationRow', () => {
  const done = {
    metadata: { name: 'pg-interval-2026-12-01-140500', creationTimestamp: '2026-12-01T14:05:00Z' },
    spec: { clusterPair: 'remote' },
    status: {
      stage: 'Final',
      status: 'Successful',
      summary: {
        totalNumberOfVolumes: 2,
        numOfMigratedVolumes: 2,
        totalNumberOfResources: 14,
        numOfMigratedResources: 13,
        totalBytesMigrated: 1073741824,
        elapsedTimeForVolumeMigration: '5m0s',
        elapsedTimeForResourceMigration: '1m2.5s',
      },
    },
  };

  it.each<[string, object, string[]]>([
    [
      'a finished migration',
      done,
      [
        'pg-interval-2026-12-01-140500',
        'remote',
        'Final',
        'Successful',
        '2/2',
        '13/14',
        '01 Dec 26 14:05 UTC',
        'Volumes (5m0s) Resources (1m2.5s)',
        '1073741824',
      ],
    ],
    [
      'one in its volume stage',
      {
        ...done,
        status: {
          stage: 'Volumes',
          status: 'InProgress',
          summary: { totalNumberOfVolumes: 3, numOfMigratedVolumes: 1, totalBytesMigrated: 512 },
        },
      },
      [
        'pg-interval-2026-12-01-140500',
        'remote',
        'Volumes',
        'InProgress',
        '1/3',
        '0/0',
        '01 Dec 26 14:05 UTC',
        'Volumes (NA) Resources (NA)',
        '512',
      ],
    ],
    [
      'one without status yet',
      { metadata: { name: 'new' }, spec: { clusterPair: 'remote' } },
      ['new', 'remote', '', '', '0/0', '0/0', '', 'Volumes (NA) Resources (NA)', '0'],
    ],
  ])('%s', (_, m, expected) => {
    expect(migrationRow(m)).toEqual(expected);
  });
});

describe('clusterPairRow', () => {
  it.each<[object, string[]]>([
    [
      {
        metadata: { name: 'remote', creationTimestamp: '2026-12-01T09:00:00Z' },
        status: { storageStatus: 'Ready', schedulerStatus: 'Ready' },
      },
      ['remote', 'Ready', 'Ready', '01 Dec 26 09:00 UTC'],
    ],
    [
      { metadata: { name: 'nostorage' }, status: { storageStatus: 'NotProvided', schedulerStatus: 'Error' } },
      ['nostorage', 'NotProvided', 'Error', ''],
    ],
    [{ metadata: { name: 'fresh' } }, ['fresh', '', '', '']],
  ])('%j', (cp, expected) => {
    expect(clusterPairRow(cp)).toEqual(expected);
  });
});

describe('get migrations / clusterpair from manifests', () => {
  const MIGRATIONS = `${FIXTURES}stork/migration.yaml`;

  it('prints the migration columns', async () => {
    const r = await run(['get', 'migrations', '-f', MIGRATIONS], 'storkctl');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)[0]!.split(/ {3,}/)).toEqual([
      'NAME',
      'CLUSTERPAIR',
      'STAGE',
      'STATUS',
      'VOLUMES',
      'RESOURCES',
      'CREATED',
      'ELAPSED',
      'TOTAL BYTES TRANSFERRED',
    ]);
    expect(
      lines(r.stdout)
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['shop-once', 'shop-everything']);
  });

  it('-c keeps the migrations of one cluster pair', async () => {
    const none = await run(['get', 'migration', '-c', 'elsewhere', '-f', MIGRATIONS], 'storkctl');
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('No migrations found in the given files.\n');
    const some = await run(['get', 'migration', '-c', 'drsite', '-f', MIGRATIONS, '-o', 'name'], 'storkctl');
    expect(lines(some.stdout)).toEqual([
      'migration.stork.libopenstorage.org/shop-once',
      'migration.stork.libopenstorage.org/shop-everything',
    ]);
  });

  it('-c on a kind without a cluster pair is a usage error', async () => {
    const r = await run(['get', 'sp', '-c', 'x', '-f', `${FIXTURES}seed/schedulepolicy.yaml`], 'storkctl');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: -c/--clusterpair applies to migrations and migrationschedules');
  });

  it('prints cluster pairs with Stork columns, cp as a short name', async () => {
    const r = await run(['get', 'cp', '-f', `${FIXTURES}stork/clusterpair.yaml`], 'storkctl');
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => l.trimEnd())).toEqual([
      'NAME      STORAGE-STATUS   SCHEDULER-STATUS   CREATED',
      'drsite',
    ]);
  });
});
