// The worker's Prometheus metrics about migrations and schedules, fed where the worker already
// sees the facts: the activities that publish a Migration's final status, the transfer activity,
// the activity that publishes a schedule's Events, and the MigrationSchedule controller's watch.
// Nothing here runs in a workflow.
//
//   ferry_migrations_total{namespace,schedule,status}    migrations that ended, by final status
//   ferry_migration_bytes_total{namespace,schedule}      their status.summary.totalBytesMigrated
//   ferry_migration_duration_seconds{status}             CR creation → status.finishTimestamp
//   ferry_transfer_bytes_per_second{kind}                bytesDone / agent time, per volume transfer
//   ferry_schedule_rpo_seconds{namespace,schedule}       now − creation of the newest Successful
//                                                        migration in the schedule's status: the
//                                                        age of the standby's data
//   ferry_schedule_skipped_triggers_total{namespace,schedule}
//   ferry_controller_reconciles_total{outcome}            Migration CR reconciles
//   ferry_controller_schedule_reconciles_total{outcome}   MigrationSchedule CR reconciles
//
// `schedule` is '' for a migration applied on its own. A schedule without a successful migration
// yet has no RPO series (its age is unknown, not zero).
import { Counter, Gauge, Histogram, exponentialBuckets, type Registry } from 'prom-client';
import type { ActivityObserver, FinishedMigration } from '../activities/deps.js';
import type { TransferResult } from '../activities/types.js';
import { isPlainObject, nameOf, namespaceOf, type KubeObject } from '../resources/objects.js';

/** Metric names this module registers (the dashboard test checks its queries against them). */
export const WORKER_METRICS = [
  'ferry_migrations_total',
  'ferry_migration_bytes_total',
  'ferry_migration_duration_seconds',
  'ferry_transfer_bytes_per_second',
  'ferry_schedule_rpo_seconds',
  'ferry_schedule_skipped_triggers_total',
  'ferry_controller_reconciles_total',
  'ferry_controller_schedule_reconciles_total',
] as const;

/** How many finished migrations are remembered to count a republished one once. */
const REMEMBERED = 10_000;

/**
 * Creation time (ms) of the newest Successful migration listed in a MigrationSchedule's status
 * (`status.items.<Type>[]`, every policy type), or undefined when none is.
 */
export function newestSuccessfulMigration(status: unknown): number | undefined {
  if (!isPlainObject(status) || !isPlainObject(status['items'])) return undefined;
  let newest: number | undefined;
  for (const list of Object.values(status['items'])) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isPlainObject(item) || item['status'] !== 'Successful') continue;
      const t = Date.parse(String(item['creationTimestamp'] ?? ''));
      if (Number.isFinite(t) && (newest === undefined || t > newest)) newest = t;
    }
  }
  return newest;
}

/** Seconds from `from` to `to` (RFC 3339), or undefined when either is missing or they are reversed. */
export function secondsBetween(from: string | undefined, to: string | undefined): number | undefined {
  const a = Date.parse(from ?? '');
  const b = Date.parse(to ?? '');
  if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) return undefined;
  return (b - a) / 1000;
}

export class WorkerMetrics implements ActivityObserver {
  private readonly migrations: Counter<'namespace' | 'schedule' | 'status'>;
  private readonly bytes: Counter<'namespace' | 'schedule'>;
  private readonly duration: Histogram<'status'>;
  private readonly rate: Histogram<'kind'>;
  private readonly skipped: Counter<'namespace' | 'schedule'>;
  private readonly reconciles: Record<'Migration' | 'MigrationSchedule', Counter<'outcome'>>;
  /** namespace/name → creation (ms) of the schedule's newest successful migration. */
  private readonly lastSuccess = new Map<string, { namespace: string; schedule: string; at: number }>();
  private readonly counted = new Set<string>();

  constructor(registry: Registry, now: () => number = Date.now) {
    const registers = [registry];
    this.migrations = new Counter({
      name: 'ferry_migrations_total',
      help: 'Migrations that ended, by final status (Successful, PartialSuccess, Failed).',
      labelNames: ['namespace', 'schedule', 'status'],
      registers,
    });
    this.bytes = new Counter({
      name: 'ferry_migration_bytes_total',
      help: 'Volume bytes the standby accepted, summed over ended migrations (status.summary.totalBytesMigrated).',
      labelNames: ['namespace', 'schedule'],
      registers,
    });
    this.duration = new Histogram({
      name: 'ferry_migration_duration_seconds',
      help: "Time from a Migration CR's creation to its finishTimestamp.",
      labelNames: ['status'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    });
    this.rate = new Histogram({
      name: 'ferry_transfer_bytes_per_second',
      help: "Per volume transfer: bytes the standby accepted divided by the agents' time for it.",
      labelNames: ['kind'],
      buckets: exponentialBuckets(64 * 1024, 4, 10),
      registers,
    });
    this.skipped = new Counter({
      name: 'ferry_schedule_skipped_triggers_total',
      help: 'Triggers of a MigrationSchedule skipped because one of its migrations still ran.',
      labelNames: ['namespace', 'schedule'],
      registers,
    });
    this.reconciles = {
      Migration: new Counter({
        name: 'ferry_controller_reconciles_total',
        help: 'Migration CR reconciles by outcome.',
        labelNames: ['outcome'],
        registers,
      }),
      MigrationSchedule: new Counter({
        name: 'ferry_controller_schedule_reconciles_total',
        help: 'MigrationSchedule CR reconciles by outcome.',
        labelNames: ['outcome'],
        registers,
      }),
    };
    const lastSuccess = this.lastSuccess;
    new Gauge({
      name: 'ferry_schedule_rpo_seconds',
      help: "Seconds since the creation of the schedule's newest successful migration: the age of the standby's data.",
      labelNames: ['namespace', 'schedule'],
      registers,
      collect() {
        this.reset();
        const t = now();
        for (const s of lastSuccess.values())
          this.set({ namespace: s.namespace, schedule: s.schedule }, Math.max(0, (t - s.at) / 1000));
      },
    });
  }

  reconciled(kind: 'Migration' | 'MigrationSchedule', outcome: string): void {
    this.reconciles[kind].inc({ outcome });
  }

  migrationFinished(m: FinishedMigration): void {
    if (this.counted.has(m.key)) return;
    this.counted.add(m.key);
    if (this.counted.size > REMEMBERED) this.counted.delete(this.counted.values().next().value!);
    const status = m.status.status ?? '';
    this.migrations.inc({ namespace: m.namespace, schedule: m.schedule, status });
    this.bytes.inc(
      { namespace: m.namespace, schedule: m.schedule },
      Math.max(0, m.status.summary?.totalBytesMigrated ?? 0),
    );
    const seconds = secondsBetween(m.creationTimestamp, m.status.finishTimestamp ?? undefined);
    if (seconds !== undefined) this.duration.observe({ status }, seconds);
  }

  transferFinished(t: TransferResult, seconds: number): void {
    if (seconds > 0) this.rate.observe({ kind: t.kind }, t.bytesDone / seconds);
  }

  triggersSkipped(schedule: { namespace: string; name: string }, count: number): void {
    this.skipped.inc({ namespace: schedule.namespace, schedule: schedule.name }, count);
  }

  /** A MigrationSchedule CR as the controller's watch sees it; a deleted one loses its series. */
  observeSchedule(cr: KubeObject): void {
    const namespace = namespaceOf(cr);
    const schedule = nameOf(cr);
    const key = `${namespace}/${schedule}`;
    if (cr.metadata?.['deletionTimestamp']) {
      this.lastSuccess.delete(key);
      this.skipped.remove({ namespace, schedule });
      return;
    }
    // Start the schedule's skipped count at 0, so increase() sees its first skip.
    this.skipped.inc({ namespace, schedule }, 0);
    const at = newestSuccessfulMigration(cr['status']);
    const known = this.lastSuccess.get(key);
    if (at !== undefined && (!known || at > known.at)) this.lastSuccess.set(key, { namespace, schedule, at });
  }
}
