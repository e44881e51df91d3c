// Names of the migrations a schedule creates: <schedule>-<policytype>-<YYYY-MM-DD-HHMMSS>, as
// Stork names them (Stork formats the pod's local time; Ferry the trigger's UTC time). Built from
// the ISO form, so no locale can change the digits.

import type { DateTime } from 'luxon';
import type { PolicyType } from './policy-types.js';

export function migrationName(scheduleName: string, type: PolicyType, time: DateTime): string {
  return nameAt(scheduleName, type, time.toMillis());
}

function nameAt(scheduleName: string, type: PolicyType, epochMs: number): string {
  return `${scheduleName}-${type}-${utcStamp(epochMs)}`;
}

/**
 * migrationName for a trigger at `atMs`, moved on by whole seconds past the names in `taken`.
 * Names have one-second resolution, and two migrations of one schedule started within a second (a
 * triggerNow right after a fast migration) must not share a name: the second would start under the
 * first's workflow id and take over its record. Stork would fail to create the second one
 * (AlreadyExists); Ferry names it for the next free second.
 */
export function freeMigrationName(
  scheduleName: string,
  type: PolicyType,
  atMs: number,
  taken: ReadonlySet<string>,
): string {
  let t = atMs;
  while (taken.has(nameAt(scheduleName, type, t))) t += 1000;
  return nameAt(scheduleName, type, t);
}

/** YYYY-MM-DD-HHMMSS in UTC: Stork's migration-name suffix and `migrationTime` annotation. */
export function utcStamp(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2019-02-14T22:16:51.000Z
  return `${iso.slice(0, 10)}-${iso.slice(11, 19).replaceAll(':', '')}`;
}
