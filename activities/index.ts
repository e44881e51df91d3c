// The worker's activities, bound to what they share (the protected cluster and its agent).
// Each is a thin function in its own file over plain, tested logic in resources/ and datapath/.
import { checkClusterPair } from './cluster-pair.js';
import type { ActivityDeps } from './deps.js';
import { finalOnRefusal } from './errors.js';
import { keepAlive } from './keep-alive.js';
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
import { snapshotVolumes, stopTransfers, transferVolume } from './volumes.js';

export type { ActivityDeps } from './deps.js';

// Every activity ends at once on an API server's 401/403 (errors.ts): retrying cannot fix RBAC.
// Those without progress of their own beat through keepAlive, so a lost worker shows in 20 s.
export function createActivities(deps: ActivityDeps): MigrationActivities & MigrationScheduleActivities {
  return {
    prepareMigration: finalOnRefusal(keepAlive((input) => prepareMigration(deps, input))),
    checkClusterPair: finalOnRefusal(keepAlive((input) => checkClusterPair(deps, input))),
    planMigration: finalOnRefusal(keepAlive((input) => planMigration(deps, input))),
    runRule: finalOnRefusal((input) => runRule(deps, input)),
    // The agent answers once the snapshot is whole (minutes for a large volume): beat meanwhile.
    snapshotVolumes: finalOnRefusal(keepAlive((input) => snapshotVolumes(deps, input))),
    transferVolume: finalOnRefusal((input) => transferVolume(deps, input)),
    stopTransfers: finalOnRefusal(keepAlive((input) => stopTransfers(deps, input))),
    migrateResources: finalOnRefusal((input) => migrateResources(deps, input)),
    publishMigrationStatus: finalOnRefusal(keepAlive((input) => publishMigrationStatus(deps, input))),
    loadSchedule: finalOnRefusal(keepAlive((input) => loadSchedule(deps, input))),
    publishScheduleStatus: finalOnRefusal(keepAlive((input) => publishScheduleStatus(deps, input))),
    deleteMigrations: finalOnRefusal(keepAlive((input) => deleteMigrations(deps, input))),
    checkStandbyActivation: finalOnRefusal(keepAlive((input) => checkStandbyActivation(deps, input))),
    suspendSchedule: finalOnRefusal(keepAlive((input) => suspendSchedule(deps, input))),
    migrationOutcome: finalOnRefusal(keepAlive((input) => migrationOutcome(input))),
  };
}
