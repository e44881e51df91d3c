// storkctl's columns for migrations and cluster pairs (../shared/STORK-COMPAT.md), from the CR as
// the server returns it. Pure: times are printed in UTC, so a table reads the same on any machine.
//
//   get clusterpair   NAME  STORAGE-STATUS  SCHEDULER-STATUS  CREATED
//   get migrations    NAME  CLUSTERPAIR  STAGE  STATUS  VOLUMES  RESOURCES  CREATED  ELAPSED  TOTAL BYTES TRANSFERRED
//   get migrationschedules  NAME  POLICYNAME  CLUSTERPAIR  SUSPEND  LAST-SUCCESS-TIME  LAST-SUCCESS-DURATION
//                     (-o wide adds RPO and NEXT-TRIGGER)
//
// VOLUMES and RESOURCES are migrated/total from status.summary; ELAPSED is
// `Volumes (5m0s) Resources (1m0s)` from the summary's Go durations (`NA` for a stage that has
// not ended); TOTAL BYTES TRANSFERRED is summary.totalBytesMigrated in decimal; CREATED is Go's
// RFC822 (`02 Jan 06 15:04 MST`), empty when unset. A schedule's last success is the item (of any
// policy type) with status exactly `Successful` that finished last; its duration is finish −
// creation as a Go duration. RPO is the age of the newest successful migration's creation (how
// old the standby's data is), `<none>` before the first success; NEXT-TRIGGER comes from the
// schedule workflow's status query, `<unknown>` when it does not answer.

import { goDuration } from '../../api/go-duration.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.RFC822 in UTC: `01 Dec 26 14:05 UTC`; "" for a missing or unparsable time. */
export function rfc822(time: unknown): string {
  const t = typeof time === 'string' ? Date.parse(time) : NaN;
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${two(d.getUTCFullYear() % 100)} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
}

export const MIGRATION_COLUMNS = [
  'NAME',
  'CLUSTERPAIR',
  'STAGE',
  'STATUS',
  'VOLUMES',
  'RESOURCES',
  'CREATED',
  'ELAPSED',
  'TOTAL BYTES TRANSFERRED',
];

export const CLUSTER_PAIR_COLUMNS = ['NAME', 'STORAGE-STATUS', 'SCHEDULER-STATUS', 'CREATED'];

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function migrationRow(m: object): string[] {
  const o = obj(m);
  const status = obj(o['status']);
  const summary = obj(status['summary']);
  const elapsed = (v: unknown) => str(v) || 'NA';
  return [
    str(obj(o['metadata'])['name']),
    str(obj(o['spec'])['clusterPair']),
    str(status['stage']),
    str(status['status']),
    `${count(summary['numOfMigratedVolumes'])}/${count(summary['totalNumberOfVolumes'])}`,
    `${count(summary['numOfMigratedResources'])}/${count(summary['totalNumberOfResources'])}`,
    rfc822(obj(o['metadata'])['creationTimestamp']),
    `Volumes (${elapsed(summary['elapsedTimeForVolumeMigration'])}) Resources (${elapsed(summary['elapsedTimeForResourceMigration'])})`,
    String(count(summary['totalBytesMigrated'])),
  ];
}

export function clusterPairRow(cp: object): string[] {
  const o = obj(cp);
  const status = obj(o['status']);
  return [
    str(obj(o['metadata'])['name']),
    str(status['storageStatus']),
    str(status['schedulerStatus']),
    rfc822(obj(o['metadata'])['creationTimestamp']),
  ];
}

/** kubectl's short ages: 45s, 5m, 3h, 12d, 2y; `<unknown>` for a missing time. */
export function age(created: unknown, now: number): string {
  const t = typeof created === 'string' ? Date.parse(created) : NaN;
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  if (s < 365 * 86400 * 2) return `${Math.floor(s / 86400)}d`;
  return `${Math.floor(s / (365 * 86400))}y`;
}

export const SCHEDULE_COLUMNS = [
  'NAME',
  'POLICYNAME',
  'CLUSTERPAIR',
  'SUSPEND',
  'LAST-SUCCESS-TIME',
  'LAST-SUCCESS-DURATION',
];
export const SCHEDULE_WIDE_COLUMNS = [...SCHEDULE_COLUMNS, 'RPO', 'NEXT-TRIGGER'];

interface Item {
  name: string;
  status: string;
  creationTimestamp: string;
  finishTimestamp: string;
}

/** Every status item of a schedule, of every policy type. */
export function scheduleItems(schedule: object): Item[] {
  const items = obj(obj(obj(schedule)['status'])['items']);
  return Object.values(items).flatMap((list) =>
    (Array.isArray(list) ? list : []).map((i) => {
      const o = obj(i);
      return {
        name: str(o['name']),
        status: str(o['status']),
        creationTimestamp: str(o['creationTimestamp']),
        finishTimestamp: str(o['finishTimestamp']),
      };
    }),
  );
}

const time = (t: string): number => (t ? Date.parse(t) : NaN);

/** The successful item that finished last (Stork's LAST-SUCCESS). */
export function lastSuccess(schedule: object): Item | undefined {
  return scheduleItems(schedule)
    .filter((i) => i.status === 'Successful' && !Number.isNaN(time(i.finishTimestamp)))
    .sort((a, b) => time(a.finishTimestamp) - time(b.finishTimestamp))
    .pop();
}

/** The newest creation among successful items: the standby's data is that old. */
export function newestSuccessCreation(schedule: object): string | undefined {
  return scheduleItems(schedule)
    .filter((i) => i.status === 'Successful' && !Number.isNaN(time(i.creationTimestamp)))
    .sort((a, b) => time(a.creationTimestamp) - time(b.creationTimestamp))
    .pop()?.creationTimestamp;
}

export function scheduleRow(s: object): string[] {
  const o = obj(s);
  const spec = obj(o['spec']);
  const last = lastSuccess(s);
  return [
    str(obj(o['metadata'])['name']),
    str(spec['schedulePolicyName']),
    str(obj(obj(spec['template'])['spec'])['clusterPair']),
    String(spec['suspend'] === true),
    last ? rfc822(last.finishTimestamp) : '',
    last ? goDuration(Math.max(0, time(last.finishTimestamp) - time(last.creationTimestamp))) : '',
  ];
}

/** -o wide: the row, then RPO and the next trigger (undefined: the workflow did not answer). */
export function scheduleWideRow(s: object, now: number, nextTrigger: string | undefined): string[] {
  const newest = newestSuccessCreation(s);
  return [
    ...scheduleRow(s),
    newest ? age(newest, now) : '<none>',
    nextTrigger === undefined ? '<unknown>' : rfc822(nextTrigger) || '<none>',
  ];
}
