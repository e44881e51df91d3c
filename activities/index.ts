// The worker's activities, bound to what they share (the protected cluster and its agent).
// Each is a thin function in its own file over plain, tested logic in resources/ and datapath/.
import { checkClusterPair } from './cluster-pair.js';
import type { ActivityDeps } from './deps.js';
import { finalOnRefusal } from './errors.js';
import { prepareMigration, publishMigrationStatus } from './migration-cr.js';
import {
  checkStandbyActivation,
  deleteMigrations,
  loadSchedule,
  migrationOutcome,
  publishScheduleStatus,
  suspendSchedule,
} from './migration-schedule-cr.js';
import { planMigration } from './plan.js';
import { migrateResources } from './resources.js';
import { runRule } from './rules.js';
import type { MigrationActivities, MigrationScheduleActivities } from './types.js';
import { snapshotVolumes, transferVolume } from './volumes.js';

export type { ActivityDeps } from './deps.js';

// Every activity ends at once on an API server's 401/403 (errors.ts): retrying cannot fix RBAC.
export function createActivities(deps: ActivityDeps): MigrationActivities & MigrationScheduleActivities {
  return {
    prepareMigration: finalOnRefusal((input) => prepareMigration(deps, input)),
    checkClusterPair: finalOnRefusal((input) => checkClusterPair(deps, input)),
    planMigration: finalOnRefusal((input) => planMigration(deps, input)),
    runRule: finalOnRefusal((input) => runRule(deps, input)),
    snapshotVolumes: finalOnRefusal((input) => snapshotVolumes(deps, input)),
    transferVolume: finalOnRefusal((input) => transferVolume(deps, input)),
    migrateResources: finalOnRefusal((input) => migrateResources(deps, input)),
    publishMigrationStatus: finalOnRefusal((input) => publishMigrationStatus(deps, input)),
    loadSchedule: finalOnRefusal((input) => loadSchedule(deps, input)),
    publishScheduleStatus: finalOnRefusal((input) => publishScheduleStatus(deps, input)),
    deleteMigrations: finalOnRefusal((input) => deleteMigrations(deps, input)),
    checkStandbyActivation: finalOnRefusal((input) => checkStandbyActivation(deps, input)),
    suspendSchedule: finalOnRefusal((input) => suspendSchedule(deps, input)),
    migrationOutcome: finalOnRefusal((input) => migrationOutcome(input)),
  };
}
