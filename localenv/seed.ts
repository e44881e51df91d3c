// The seed's SchedulePolicy and MigrationSchedule (shared/seed/async-dr.txt), adapted to the local
// environment's samples: what `npm run up` and `npm run drill` apply to the source. (The seed names
// its policy `testpolcy` and refers to it as `testpolicy`; the reference wins here.)
import { GROUP_VERSION } from '../api/index.js';

/** The seed's SchedulePolicy (every minute, plus its daily, weekly and monthly triggers). */
export const SEED_POLICY = {
  apiVersion: GROUP_VERSION,
  kind: 'SchedulePolicy',
  metadata: { name: 'testpolicy' },
  policy: {
    interval: { intervalMinutes: 1 },
    daily: { time: '10:14PM' },
    weekly: { day: 'Thursday', time: '10:13PM' },
    monthly: { date: 14, time: '8:05PM' },
  },
};

/** The seed's MigrationSchedule for a sample: `<namespace>migrationschedule` to ClusterPair `remote`. */
export function seedSchedule(ns: string, template: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'MigrationSchedule',
    metadata: { name: `${ns}migrationschedule`, namespace: ns },
    spec: {
      template: {
        spec: {
          clusterPair: 'remote',
          includeResources: true,
          startApplications: false,
          namespaces: [ns],
          ...template,
        },
      },
      schedulePolicyName: SEED_POLICY.metadata.name,
      autoSuspend: true,
    },
  };
}
