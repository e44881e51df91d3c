// storkctl's columns for migrations and cluster pairs (../shared/STORK-COMPAT.md), from the CR as
// the server returns it. Pure: times are printed in UTC, so a table reads the same on any machine.
//
//   get clusterpair   NAME  STORAGE-STATUS  SCHEDULER-STATUS  CREATED
//   get migrations    NAME  CLUSTERPAIR  STAGE  STATUS  VOLUMES  RESOURCES  CREATED  ELAPSED  TOTAL BYTES TRANSFERRED
//
// VOLUMES and RESOURCES are migrated/total from status.summary; ELAPSED is
// `Volumes (5m0s) Resources (1m0s)` from the summary's Go durations (`NA` for a stage that has
// not ended); TOTAL BYTES TRANSFERRED is summary.totalBytesMigrated in decimal; CREATED is Go's
// RFC822 (`02 Jan 06 15:04 MST`), empty when unset.

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
