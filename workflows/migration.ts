// The Migration workflow: one run of a Migration, id `migration/<namespace>/<name>`.
//
//   prepare        read the CR (or create it from the given spec), validate the spec
//   ClusterPair    the standby's API and the destination agent answer (few quick retries)
//   plan           namespaces, and each PVC's volume on the source agent
//   PreExecRule    commands in the selected pods (e.g. a database checkpoint)
//   Volumes        snapshot every volume at once
//   PostExecRule   commands after the snapshot (e.g. resume writes)
//   Volumes        transfer each snapshot to the destination agent (heartbeats, resumable)
//   Applications   collect, rewrite and apply resources on the standby (scaled to zero)
//   Final          Successful, PartialSuccess (a resource failed) or Failed (anything else)
//
// Status is Stork's shape; the `status` query returns it and every stage mirrors it to the CR
// with Events. Resource bodies and volume bytes never enter the history: activities return
// names, counts and per-item statuses. Cancelling (temporal workflow cancel, or deleting the
// CR) cancels the running transfer on the agents, so each standby stays on its last whole
// restore point, and leaves the status Failed with reason "cancelled".
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { goDuration } from '../api/go-duration.js';
import type { MigrationSpec, MigrationStatus, MigrationVolumeInfo } from '../api/kinds/migration.js';
import { utcStamp } from '../schedule/names.js';
import type {
  KubeEvent,
  MigrationActivities,
  PrepareMigrationInput,
  TransferResult,
} from '../activities/types.js';
import { NON_RETRYABLE } from '../activities/types.js';
import { searchAttributePairs, type FerrySearchAttributes } from './search-attributes.js';

export type MigrationWorkflowInput = PrepareMigrationInput;

export const migrationStatusQuery = defineQuery<MigrationStatus>('status');

export function migrationWorkflowId(namespace: string, name: string): string {
  return `migration/${namespace}/${name}`;
}

const nonRetryableErrorTypes = Object.values(NON_RETRYABLE);

/** Reads and writes of the API servers: brief, retried through short outages. */
const api = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '1 minute',
  // They beat every 5 s (activities/keep-alive.ts): a killed worker's call is retried after 20 s.
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    maximumAttempts: 6,
    nonRetryableErrorTypes,
  },
});
/** The pairing check fails fast: a wrong ClusterPair must fail in seconds, not after retries. */
const pairing = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
});
const rules = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumAttempts: 2, nonRetryableErrorTypes },
});
/**
 * Snapshots of large volumes take as long as the agent reads them (it allows an hour); the
 * activity heartbeats while it waits, so a lost worker is noticed in 30 s, not an hour.
 */
const snapshotting = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    maximumInterval: '30 seconds',
    maximumAttempts: 6,
    nonRetryableErrorTypes,
  },
});
/**
 * patched() id: a Migration that ends between its snapshot step and its transfer step cancels the
 * replications the snapshot step started (they await the transfer step's confirmation).
 */
const STOP_UNCONFIRMED_PATCH = 'stop-unconfirmed-transfers';
/** Transfers heartbeat; a lost worker is noticed within the heartbeat timeout and the retry resumes. */
const transfers = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '15 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '2 seconds',
    maximumInterval: '1 minute',
    maximumAttempts: 30,
    nonRetryableErrorTypes,
  },
});
const resources = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '2 seconds',
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes,
  },
});

class StageFailure extends Error {}

export async function migrationWorkflow(input: MigrationWorkflowInput): Promise<MigrationStatus> {
  const ref = { namespace: input.namespace, name: input.name };
  const status: MigrationStatus = {
    stage: '',
    status: 'Pending',
    volumes: [],
    resources: [],
    summary: {
      totalNumberOfVolumes: 0,
      numOfMigratedVolumes: 0,
      totalNumberOfResources: 0,
      numOfMigratedResources: 0,
      totalBytesMigrated: 0,
      elapsedTimeForVolumeMigration: '',
      elapsedTimeForResourceMigration: '',
      elapsedTimePerStage: {},
    },
    workflowId: workflowInfo().workflowId,
  };
  setHandler(migrationStatusQuery, () => status);
  const events: KubeEvent[] = [];
  // The status goes to the CR as a merge patch: a field left out stays as it is there. The
  // per-resource list, the one big field, is sent only when it changed, so a 1,000-object
  // migration's history holds it twice (the activity's result, one status write), not per stage.
  let resourcesPublished = 0;
  const publish = () => {
    const { resources: list, ...rest } = status;
    const changed = (list?.length ?? 0) !== resourcesPublished;
    resourcesPublished = list?.length ?? 0;
    setCurrentDetails(migrationDetails(input.namespace, input.name, status));
    return api.publishMigrationStatus.executeWithOptions(
      {
        summary: `Mirror status (${status.stage || 'Initial'}, ${status.status}) to Migration ${input.namespace}/${input.name}`,
      },
      [{ ...ref, status: changed ? status : rest, events: events.splice(0) }],
    );
  };
  let stageStart = Date.now();
  /** Milliseconds spent in each stage; Volumes is entered twice (snapshot, then transfer). */
  const stageMs: Record<string, number> = {};
  const enter = async (stage: MigrationStatus['stage']) => {
    closeStage();
    status.stage = stage;
    status.status = 'InProgress';
    stageStart = Date.now();
    await publish();
  };
  const closeStage = () => {
    if (!status.stage) return;
    stageMs[status.stage] = (stageMs[status.stage] ?? 0) + Date.now() - stageStart;
    status.summary!.elapsedTimePerStage = Object.fromEntries(
      Object.entries(stageMs).map(([stage, ms]) => [stage, goDuration(ms)]),
    );
  };

  /** Volumes whose replications the snapshot step started and no transfer step has taken over. */
  let unconfirmed: string[] = [];
  try {
    const prepared = await api.prepareMigration.executeWithOptions(
      {
        summary: `Read Migration ${input.namespace}/${input.name}${input.spec ? ' (create it from the given spec)' : ''}`,
      },
      [input],
    );
    const spec: MigrationSpec = prepared.spec;
    upsertFerrySearchAttributes({ namespace: input.namespace, clusterPair: spec.clusterPair });
    await pairing.checkClusterPair.executeWithOptions(
      {
        summary: `Check ClusterPair ${input.namespace}/${spec.clusterPair}: the standby's API server and agent answer`,
      },
      [{ namespace: input.namespace, name: spec.clusterPair }],
    );
    const plan = await api.planMigration.executeWithOptions(
      {
        summary: `Plan Migration ${input.namespace}/${input.name}: its namespaces and volumes on the source`,
      },
      [{ ...ref, spec }],
    );
    status.volumes = plan.volumes.map((v) => volumeItem(v.namespace, v.pvc, v.volume ?? '', v.error));
    status.summary!.totalNumberOfVolumes = status.volumes.length;
    const broken = status.volumes.filter((v) => v.status === 'Failed');
    for (const v of broken)
      events.push({
        type: 'Warning',
        reason: 'Failed',
        message: `Error migrating volume ${v.persistentVolumeClaim}: ${v.reason}`,
      });
    if (broken.length > 0)
      throw new StageFailure(
        `${broken.length} of ${status.volumes.length} volumes cannot be migrated: ${broken[0]!.reason}`,
      );

    if (spec.preExecRule) await runRule(spec.preExecRule, 'PreExecRule', plan.namespaces);
    const volumeStart = Date.now();
    let snapshots: Record<string, string> = {};
    if (status.volumes.length > 0) {
      await enter('Volumes');
      const volumes = status.volumes.map((v) => v.volume);
      snapshots = (
        await snapshotting.snapshotVolumes.executeWithOptions(
          {
            summary: clip(`Snapshot ${volumes.length} volume(s) on the source agent: ${volumes.join(', ')}`),
          },
          [{ volumes, migration: ref, clusterPair: spec.clusterPair }],
        )
      ).snapshots;
      unconfirmed = volumes;
    }
    if (spec.postExecRule) await runRule(spec.postExecRule, 'PostExecRule', plan.namespaces);

    const volumePaths: Record<string, string> = {};
    if (status.volumes.length > 0) {
      await enter('Volumes');
      const results = await Promise.allSettled(
        status.volumes.map((v) =>
          transfers.transferVolume.executeWithOptions(
            {
              summary: clip(
                `Transfer volume ${v.volume} (pvc ${v.namespace}/${v.persistentVolumeClaim}) from the source agent to ClusterPair ${spec.clusterPair}'s agent`,
              ),
            },
            [
              {
                migration: ref,
                clusterPair: spec.clusterPair,
                volume: v.volume,
                snapshotId: snapshots[v.volume]!,
              },
            ],
          ),
        ),
      );
      // A transfer step that ran stopped its replication if it failed; one cancelled before it
      // started did not: stopping an ended replication again changes nothing.
      unconfirmed = status.volumes.filter((_, i) => results[i]!.status === 'rejected').map((v) => v.volume);
      results.forEach((r, i) => {
        const v = status.volumes![i]!;
        const pv = plan.volumes[i]!.pv;
        if (r.status === 'fulfilled') {
          recordTransfer(v, r.value);
          if (pv) volumePaths[pv] = r.value.standbyPath;
          events.push({
            type: 'Normal',
            reason: 'Successful',
            message: `Volume ${v.persistentVolumeClaim} migrated successfully`,
          });
        } else {
          if (isCancellation(r.reason)) throw r.reason;
          v.status = 'Failed';
          v.reason = failureMessage(r.reason);
          events.push({
            type: 'Warning',
            reason: 'Failed',
            message: `Error migrating volume ${v.persistentVolumeClaim}: ${v.reason}`,
          });
        }
      });
      status.summary!.numOfMigratedVolumes = status.volumes.filter((v) => v.status === 'Successful').length;
      status.summary!.totalBytesMigrated = status.volumes.reduce((n, v) => n + (v.bytesDone ?? 0), 0);
      status.summary!.elapsedTimeForVolumeMigration = goDuration(Date.now() - volumeStart);
      status.volumeMigrationFinishTimestamp = new Date().toISOString();
      const failed = status.volumes.filter((v) => v.status === 'Failed');
      if (failed.length > 0)
        throw new StageFailure(
          `${failed.length} of ${status.volumes.length} volumes failed: ${failed[0]!.reason}`,
        );
    }

    if (spec.includeResources) {
      await enter('Applications');
      const resourceStart = Date.now();
      const result = await resources.migrateResources.executeWithOptions(
        {
          summary: clip(
            `Apply the resources of namespace(s) ${plan.namespaces.join(', ')} from the source to ClusterPair ${spec.clusterPair}'s standby`,
          ),
        },
        [
          {
            migration: ref,
            spec,
            namespaces: plan.namespaces,
            volumePaths,
            migrationTime: utcStamp(Date.now()),
          },
        ],
      );
      status.resources = result.resources;
      const failed = result.resources.filter((r) => r.status === 'Failed');
      for (const r of failed.slice(0, 20)) {
        events.push({
          type: 'Warning',
          reason: 'Failed',
          message: `${r.group === 'core' ? '' : `${r.group}/`}${r.version}, Kind=${r.kind} ${r.namespace}/${r.name}: ${r.reason}`,
        });
      }
      status.summary!.totalNumberOfResources =
        result.succeeded + result.failed - failedPurges(result.resources);
      status.summary!.numOfMigratedResources = result.succeeded;
      status.resourcesNotListed = result.unlisted;
      status.summary!.elapsedTimeForResourceMigration = goDuration(Date.now() - resourceStart);
      status.resourceMigrationFinishTimestamp = new Date().toISOString();
      if (failed.length > 0)
        status.reason = `${failed.length} of ${result.succeeded + failed.length} resources failed: ${failed[0]!.reason}`;
    }

    closeStage();
    status.stage = 'Final';
    status.status = status.reason ? 'PartialSuccess' : 'Successful';
    status.finishTimestamp = new Date().toISOString();
    events.push(
      status.status === 'Successful'
        ? { type: 'Normal', reason: 'Successful', message: `Migration ${input.name} completed successfully` }
        : {
            type: 'Warning',
            reason: 'PartialSuccess',
            message: `Migration ${input.name} partially succeeded: ${status.reason}`,
          },
    );
    await publish();
    return status;
  } catch (err) {
    const cancelled = isCancellation(err);
    closeStage();
    status.status = 'Failed';
    status.reason = cancelled ? 'cancelled' : failureMessage(err);
    status.finishTimestamp = new Date().toISOString();
    const stage = status.stage || 'Initial';
    status.stage = 'Final';
    events.push({ type: 'Warning', reason: 'Failed', message: failureEvent(stage, status.reason) });
    // Even when cancelled: the CR must say how the migration ended, and the data stop moving.
    await CancellationScope.nonCancellable(async () => {
      if (unconfirmed.length > 0 && patched(STOP_UNCONFIRMED_PATCH))
        await api.stopTransfers
          .executeWithOptions(
            { summary: clip(`Cancel the unconfirmed transfers of volume(s) ${unconfirmed.join(', ')}`) },
            [{ volumes: unconfirmed }],
          )
          .catch(() => undefined);
      await publish();
    }).catch(() => undefined);
    if (cancelled) throw err;
    throw ApplicationFailure.nonRetryable(status.reason, 'MigrationFailed');
  }

  async function runRule(rule: string, stage: 'PreExecRule' | 'PostExecRule', podNamespaces: string[]) {
    await enter(stage);
    try {
      await rules.runRule.executeWithOptions(
        { summary: clip(`${stage}: Rule ${input.namespace}/${rule} in pods of ${podNamespaces.join(', ')}`) },
        [{ namespace: input.namespace, rule, podNamespaces, stage }],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new StageFailure(`Error running ${stage}: ${failureMessage(err)}`);
    }
  }
}

/** Sets Ferry's search attributes that are missing or differ (an upsert is a history event: only when needed). */
export function upsertFerrySearchAttributes(values: FerrySearchAttributes): void {
  const current = workflowInfo().typedSearchAttributes;
  const changed = searchAttributePairs(values).filter((p) => current.get(p.key) !== p.value);
  if (changed.length > 0) upsertSearchAttributes(changed);
}

/** A summary fits the UI's one line (Temporal caps summaries at 200 bytes or so). */
export function clip(text: string, max = 190): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The live state for the Web UI (setCurrentDetails), Markdown. */
function migrationDetails(namespace: string, name: string, status: MigrationStatus): string {
  const s = status.summary;
  const lines = [
    `**Migration ${namespace}/${name}**: stage **${status.stage || 'Initial'}**, status **${status.status}**`,
    '',
    `- volumes: ${s?.numOfMigratedVolumes ?? 0}/${s?.totalNumberOfVolumes ?? 0}, ${s?.totalBytesMigrated ?? 0} bytes`,
    `- resources: ${s?.numOfMigratedResources ?? 0}/${s?.totalNumberOfResources ?? 0}`,
  ];
  if (status.reason) lines.push(`- reason: ${status.reason}`);
  return lines.join('\n');
}

/** Purges that failed count as failures but not as resources of the source. */
function failedPurges(items: readonly { status?: string; reason?: string }[]): number {
  return items.filter((r) => r.status === 'Failed' && (r.reason ?? '').startsWith('Error purging')).length;
}

function volumeItem(namespace: string, pvc: string, volume: string, error?: string): MigrationVolumeInfo {
  return {
    persistentVolumeClaim: pvc,
    namespace,
    volume,
    status: error ? 'Failed' : 'Pending',
    reason: error ?? '',
    bytesTotal: 0,
    bytesDone: 0,
  };
}

function recordTransfer(v: MigrationVolumeInfo, r: TransferResult): void {
  v.status = 'Successful';
  v.bytesTotal = r.bytesTotal;
  v.bytesDone = r.bytesDone;
  v.replicationKind = r.kind;
  v.restorePoint = r.restorePoint;
}

function failureEvent(stage: string, reason: string): string {
  if (reason.startsWith('Error ')) return reason;
  if (stage === 'Applications') return `Error migrating resources: ${reason}`;
  return `Migration failed: ${reason}`;
}

/** The innermost message: an activity's ApplicationFailure, not "Activity task failed". */
function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as { message?: string; cause?: unknown };
  return e?.message ?? String(err);
}
