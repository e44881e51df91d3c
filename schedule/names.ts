// Names of the migrations a schedule creates: <schedule>-<policytype>-<YYYY-MM-DD-HHMMSS>, as
// Stork names them (Stork formats the pod's local time; Ferry the trigger's UTC time). Built from
// the ISO form, so no locale can change the digits.

import type { DateTime } from 'luxon';
import type { PolicyType } from './policy-types.js';

export function migrationName(scheduleName: string, type: PolicyType, time: DateTime): string {
  return `${scheduleName}-${type}-${utcStamp(time.toMillis())}`;
}

/** YYYY-MM-DD-HHMMSS in UTC: Stork's migration-name suffix and `migrationTime` annotation. */
export function utcStamp(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2019-02-14T22:16:51.000Z
  return `${iso.slice(0, 10)}-${iso.slice(11, 19).replaceAll(':', '')}`;
}
