// The worker's migration and schedule metrics: what each observed fact does to the scrape.
import fc from 'fast-check';
import { Registry } from 'prom-client';
import type { MigrationStatus } from '../../../api/index.js';
import { newestSuccessfulMigration, secondsBetween, WorkerMetrics } from '../../../workers/metrics.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');

function world(now = T0) {
  const registry = new Registry();
  const clock = { now };
  const metrics = new WorkerMetrics(registry, () => clock.now);
  return { registry, metrics, clock, scrape: () => registry.metrics() };
}

function finished(over: Partial<MigrationStatus> = {}): MigrationStatus {
  return {
    stage: 'Final',
    status: 'Successful',
    finishTimestamp: '2026-03-01T12:01:30Z',
    summary: { totalBytesMigrated: 1000 } as MigrationStatus['summary'],
    ...over,
  } as MigrationStatus;
}

function schedule(name: string, items: Record<string, unknown[]>, deleting = false) {
  return {
    apiVersion: 'stork.libopenstorage.org/v1alpha1',
    kind: 'MigrationSchedule',
    metadata: {
      name,
      namespace: 'shop',
      ...(deleting ? { deletionTimestamp: '2026-03-01T12:00:00Z' } : {}),
    },
    status: { items },
  };
}

describe('newestSuccessfulMigration', () => {
  it.each([
    ['no status', undefined, undefined],
    ['no items', {}, undefined],
    [
      'only failed and running',
      {
        items: {
          Interval: [
            { status: 'Failed', creationTimestamp: '2026-03-01T11:00:00Z' },
            { status: 'InProgress', creationTimestamp: '2026-03-01T11:30:00Z' },
          ],
        },
      },
      undefined,
    ],
    [
      'one successful',
      { items: { Interval: [{ status: 'Successful', creationTimestamp: '2026-03-01T11:00:00Z' }] } },
      Date.parse('2026-03-01T11:00:00Z'),
    ],
    [
      'the newest across policy types, failed ones ignored',
      {
        items: {
          Interval: [
            { status: 'Successful', creationTimestamp: '2026-03-01T11:00:00Z' },
            { status: 'Failed', creationTimestamp: '2026-03-01T11:59:00Z' },
          ],
          Daily: [{ status: 'Successful', creationTimestamp: '2026-03-01T11:15:00Z' }],
        },
      },
      Date.parse('2026-03-01T11:15:00Z'),
    ],
    [
      'a successful one without a time',
      { items: { Daily: [{ status: 'Successful', creationTimestamp: null }] } },
      undefined,
    ],
  ])('%s', (_name, status, expected) => {
    expect(newestSuccessfulMigration(status)).toBe(expected);
  });
});

describe('secondsBetween', () => {
  it.each([
    ['2026-03-01T12:00:00Z', '2026-03-01T12:01:30Z', 90],
    ['2026-03-01T12:00:00Z', '2026-03-01T12:00:00Z', 0],
    ['2026-03-01T12:01:00Z', '2026-03-01T12:00:00Z', undefined],
    [undefined, '2026-03-01T12:00:00Z', undefined],
    ['2026-03-01T12:00:00Z', 'soon', undefined],
  ])('%s → %s: %s', (from, to, expected) => {
    expect(secondsBetween(from, to)).toBe(expected);
  });
});

describe('WorkerMetrics', () => {
  it('counts a finished migration once per workflow run, with its bytes and duration', async () => {
    const { metrics, scrape } = world();
    const m = {
      key: 'migration/shop/m1/run-1',
      namespace: 'shop',
      name: 'm1',
      schedule: '',
      status: finished(),
      creationTimestamp: '2026-03-01T12:00:00Z',
    };
    metrics.migrationFinished(m);
    metrics.migrationFinished(m); // a retried publish of the same run
    metrics.migrationFinished({
      ...m,
      key: 'migration/shop/m2/run-1',
      name: 'm2',
      schedule: 'nightly',
      status: finished({
        status: 'Failed',
        summary: { totalBytesMigrated: 24 } as MigrationStatus['summary'],
      }),
    });
    const text = await scrape();
    expect(text).toContain('ferry_migrations_total{namespace="shop",schedule="",status="Successful"} 1\n');
    expect(text).toContain('ferry_migrations_total{namespace="shop",schedule="nightly",status="Failed"} 1\n');
    expect(text).toContain('ferry_migration_bytes_total{namespace="shop",schedule=""} 1000\n');
    expect(text).toContain('ferry_migration_bytes_total{namespace="shop",schedule="nightly"} 24\n');
    expect(text).toContain('ferry_migration_duration_seconds_sum{status="Successful"} 90\n');
    expect(text).toContain('ferry_migration_duration_seconds_bucket{le="60",status="Successful"} 0\n');
    expect(text).toContain('ferry_migration_duration_seconds_bucket{le="120",status="Successful"} 1\n');
  });

  it('observes transfer rates by kind, and skips transfers of no measurable time', async () => {
    const { metrics, scrape } = world();
    const t = {
      volume: 'v',
      kind: 'full' as const,
      bytesTotal: 8 << 20,
      bytesDone: 8 << 20,
      bytesOnWire: 0,
      restorePoint: 'rp',
      standbyPath: '/x',
    };
    metrics.transferFinished(t, 2);
    metrics.transferFinished(t, 0);
    const text = await scrape();
    expect(text).toContain('ferry_transfer_bytes_per_second_sum{kind="full"} 4194304\n');
    expect(text).toContain('ferry_transfer_bytes_per_second_count{kind="full"} 1\n');
  });

  it('reports each schedule’s RPO as the age of its newest successful migration, and forgets deleted schedules', async () => {
    const { metrics, clock, scrape } = world();
    metrics.observeSchedule(
      schedule('hourly', {
        Interval: [{ name: 'a', status: 'Successful', creationTimestamp: '2026-03-01T11:50:00Z' }],
      }),
    );
    metrics.observeSchedule(
      schedule('new', {
        Interval: [{ name: 'b', status: 'InProgress', creationTimestamp: '2026-03-01T11:59:00Z' }],
      }),
    );
    let text = await scrape();
    expect(text).toContain('ferry_schedule_rpo_seconds{namespace="shop",schedule="hourly"} 600\n');
    expect(text).not.toContain('ferry_schedule_rpo_seconds{namespace="shop",schedule="new"}');
    expect(text).toContain('ferry_schedule_skipped_triggers_total{namespace="shop",schedule="new"} 0\n');

    clock.now += 30_000;
    metrics.triggersSkipped({ namespace: 'shop', name: 'hourly' }, 2);
    // A newer success lowers it; a status listing only an older one does not raise it again.
    metrics.observeSchedule(
      schedule('hourly', {
        Interval: [{ name: 'c', status: 'Successful', creationTimestamp: '2026-03-01T12:00:00Z' }],
      }),
    );
    metrics.observeSchedule(
      schedule('hourly', {
        Interval: [{ name: 'a', status: 'Successful', creationTimestamp: '2026-03-01T11:50:00Z' }],
      }),
    );
    text = await scrape();
    expect(text).toContain('ferry_schedule_rpo_seconds{namespace="shop",schedule="hourly"} 30\n');
    expect(text).toContain('ferry_schedule_skipped_triggers_total{namespace="shop",schedule="hourly"} 2\n');

    metrics.observeSchedule(schedule('hourly', {}, true));
    text = await scrape();
    expect(text).not.toContain('schedule="hourly"');
  });

  it('RPO is never negative and grows with the clock (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -3600, max: 86_400 }),
        fc.integer({ min: 0, max: 3600 }),
        async (ago, later) => {
          const { metrics, clock, scrape } = world();
          const created = new Date(T0 - ago * 1000).toISOString();
          metrics.observeSchedule(
            schedule('s', { Daily: [{ status: 'Successful', creationTimestamp: created }] }),
          );
          const read = async () =>
            Number(
              /ferry_schedule_rpo_seconds\{namespace="shop",schedule="s"\} (\S+)/.exec(await scrape())![1],
            );
          const first = await read();
          clock.now += later * 1000;
          const second = await read();
          expect(first).toBe(Math.max(0, ago));
          expect(second).toBe(Math.max(0, ago + later));
        },
      ),
      { numRuns: 50 },
    );
  });
});
