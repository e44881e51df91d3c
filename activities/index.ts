// The worker's activities, bound to what they share (the protected cluster and its agent).
// Each is a thin function in its own file over plain, tested logic in resources/ and datapath/.
import { checkClusterPair } from './cluster-pair.js';
import type { ActivityDeps } from './deps.js';
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

export function createActivities(deps: ActivityDeps): MigrationActivities & MigrationScheduleActivities {
  return {
    prepareMigration: (input) => prepareMigration(deps, input),
    checkClusterPair: (input) => checkClusterPair(deps, input),
    planMigration: (input) => planMigration(deps, input),
    runRule: (input) => runRule(deps, input),
    snapshotVolumes: (input) => snapshotVolumes(deps, input),
    transferVolume: (input) => transferVolume(deps, input),
    migrateResources: (input) => migrateResources(deps, input),
    publishMigrationStatus: (input) => publishMigrationStatus(deps, input),
    loadSchedule: (input) => loadSchedule(deps, input),
    publishScheduleStatus: (input) => publishScheduleStatus(deps, input),
    deleteMigrations: (input) => deleteMigrations(deps, input),
    checkStandbyActivation: (input) => checkStandbyActivation(deps, input),
    suspendSchedule: (input) => suspendSchedule(deps, input),
    migrationOutcome: (input) => migrationOutcome(input),
  };
}
