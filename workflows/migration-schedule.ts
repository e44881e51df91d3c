// The MigrationSchedule workflow: one long-lived run per schedule, id
// `migrationschedule/<namespace>/<name>`.
//
//   load        the spec (input, update, or the CR) and its policy (NamespacedSchedulePolicy of
//               the namespace first, then SchedulePolicy); a missing or invalid policy is an Event
//               and a retry a minute later, never the end of the schedule
//   due         per policy type, schedule/'s dueCheck against the workflow clock: the latest
//               trigger since the last one fires once (if within the catch-up window)
//   trigger     a child Migration workflow `migration/<ns>/<schedule>-<type>-<stamp>`, which
//               creates its Migration CR (owned by the schedule through its label and annotation);
//               parentClosePolicy ABANDON, so neither continue-as-new nor a crash kills it. While
//               one runs, a due trigger is skipped and counted (status and an Event).
//   autoSuspend before a due trigger (and every 5 minutes), ask the standby through the
//               ClusterPair whether the apps were activated there; if so, suspend: spec.suspend
//               true in the workflow and on the CR (resuming is the user's call, after failback),
//               an Event, status.applicationActivated
//   sleep       until the earliest next trigger, or a signal, update or child completion
//   record      per policy type the last success plus every failed or running migration;
//               retention (policy.<type>.retain) deletes the oldest Migration CRs
//   continue    as new when the server suggests it (or past input.historyLimit), carrying the
//               state, once no migration runs; a migration that runs until the history has
//               doubled past that point is carried by workflow id (ABANDON keeps it running) and
//               the next run polls its outcome (the migrationOutcome activity, every minute);
//               triggerNow's update ids are carried too, so a retried update returns the
//               migration it started instead of starting another
//
// Handlers: signals `suspend`, `resume`; updates `triggerNow` (returns the migration's name) and
// `updateSpec` (validated synchronously with the api schema); query `status`.
import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { DateTime } from 'luxon';
import type { MigrationScheduleSpec, MigrationScheduleStatus } from '../api/kinds/migration-schedule.js';
import { migrationScheduleSpecSchema } from '../api/kinds/migration-schedule.js';
import type { SchedulePolicyItem } from '../api/kinds/schedule-policy.js';
import type { MigrationStatus } from '../api/kinds/migration.js';
import { formatPath } from '../api/schema/index.js';
import { dueCheck } from '../schedule/due.js';
import { freeMigrationName, migrationName } from '../schedule/names.js';
import { POLICY_TYPES, policyTypes, statusKey, type PolicyType } from '../schedule/policy-types.js';
import type { KubeEvent, MigrationScheduleActivities, StandbyActivation } from '../activities/types.js';
import { NON_RETRYABLE } from '../activities/types.js';
import { clip, migrationWorkflow, migrationWorkflowId, upsertFerrySearchAttributes } from './migration.js';
import { searchAttributePairs } from './search-attributes.js';

export const SCHEDULE_ANNOTATION = 'stork.libopenstorage.org/migration-schedule-name';
/** How long a schedule without a usable policy waits before it looks again. */
export const POLICY_RETRY_MS = 60_000;
/** With autoSuspend, how often a schedule asks the standby whether its apps run there (and before every trigger). */
export const ACTIVATION_POLL_MS = 5 * 60_000;
/** patched() id: a run may continue as new while a migration runs (watched by the next run). */
export const CAN_WITH_RUNNING_PATCH = 'continue-as-new-with-running-migration';
/** patched() id: a migration started within a second of the previous one gets the next second's name. */
export const UNIQUE_NAMES_PATCH = 'unique-migration-names';
/** triggerNow update ids remembered across continue-as-new (the newest ones). */
export const REMEMBERED_UPDATES = 100;
/** How often a run asks whether a migration an earlier run started has finished. */
export const WATCH_POLL_MS = 60_000;

export function migrationScheduleWorkflowId(namespace: string, name: string): string {
  return `migrationschedule/${namespace}/${name}`;
}

type StatusKey = 'Interval' | 'Daily' | 'Weekly' | 'Monthly';
export interface ScheduledItem {
  name: string;
  creationTimestamp: string;
  finishTimestamp?: string;
  status: string;
}

/** Everything a run carries into the next one (continue-as-new). */
export interface ScheduleState {
  /** Suspended by the `suspend` signal (spec.suspend suspends too). */
  suspended: boolean;
  /** Per policy type, the trigger it last fired for (epoch ms). */
  lastTrigger: Partial<Record<PolicyType, number>>;
  /** Per policy type, every migration still kept (oldest first): status items and retention. */
  migrations: Record<StatusKey, ScheduledItem[]>;
  /** Migrations started and not yet finished (workflow ids). */
  running: string[];
  counts: {
    triggered: number;
    skipped: number;
    succeeded: number;
    failed: number;
    deleted: number;
    /**
     * Volume transfers of the schedule's finished migrations by kind: the ClusterPair's mode
     * decides (DisasterRecovery: always incremental; else every 7th of a volume is full).
     * Absent in state carried from runs before they were counted.
     */
    fullTransfers?: number;
    incrementalTransfers?: number;
  };
  lastError?: string;
  /** Set while autoSuspend found the apps active on the standby: when, and what said so. */
  autoSuspended?: { at: string; evidence: string[] };
  /** triggerNow's update id -> the migration it started, so a retried update returns the same name (across continue-as-new too). */
  updates?: Record<string, string>;
  /** Runs of this schedule so far (1 + continue-as-new count). */
  runs: number;
}

export interface MigrationScheduleInput {
  namespace: string;
  name: string;
  /** A MigrationSchedule spec; without it, the CR's spec is read. */
  spec?: unknown;
  /** Set by continue-as-new only. */
  state?: ScheduleState;
  /** Continue as new past this many history events too (tests; the server suggests at 4,096). */
  historyLimit?: number;
}

export interface ScheduleStatusView extends ScheduleState {
  spec?: MigrationScheduleSpec;
  items: MigrationScheduleStatus['items'];
  nextTrigger?: string;
}

export const suspendSignal = defineSignal('suspend');
export const resumeSignal = defineSignal('resume');
export const triggerNowUpdate = defineUpdate<string, [arg: { type?: PolicyType } | undefined]>('triggerNow');
export const updateSpecUpdate = defineUpdate<void, [unknown]>('updateSpec');
export const scheduleStatusQuery = defineQuery<ScheduleStatusView>('status');

const api = proxyActivities<MigrationScheduleActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds', // activities/keep-alive.ts
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    maximumAttempts: 6,
    nonRetryableErrorTypes: Object.values(NON_RETRYABLE),
  },
});

export async function migrationScheduleWorkflow(input: MigrationScheduleInput): Promise<void> {
  const { namespace, name } = input;
  const state: ScheduleState = input.state ?? {
    suspended: false,
    lastTrigger: {},
    migrations: { Interval: [], Daily: [], Weekly: [], Monthly: [] },
    running: [],
    counts: { triggered: 0, skipped: 0, succeeded: 0, failed: 0, deleted: 0 },
    runs: 0,
  };
  state.runs += 1;
  let spec: MigrationScheduleSpec | undefined;
  let rawSpec: unknown = input.spec;
  /** Bumped by updateSpec: a load that started before it must not bring the old spec back. */
  let specVersion = 0;
  let policy: SchedulePolicyItem | undefined;
  let next: number | undefined;
  let woken = false;
  let dirty = true;
  const events: KubeEvent[] = [];
  /** Triggers skipped since the status was last published (the worker's skipped-trigger metric). */
  let skippedUnpublished = 0;
  const finished: string[] = [];
  let lastActivationCheck = -Infinity;
  /** migrationOutcome calls in flight (continue-as-new waits for them). */
  let polls = 0;
  /** The history length at which this run first found continuing as new due. */
  let longSince: number | undefined;

  // Handlers first, before any await: an early update must not be rejected.
  setHandler(suspendSignal, () => {
    state.suspended = true;
    dirty = woken = true;
  });
  setHandler(resumeSignal, () => {
    state.suspended = false;
    dirty = woken = true;
  });
  setHandler(
    updateSpecUpdate,
    (newSpec) => {
      rawSpec = newSpec;
      spec = migrationScheduleSpecSchema.applyDefaults(newSpec) as MigrationScheduleSpec;
      specVersion += 1;
      woken = dirty = true;
    },
    {
      validator: (newSpec) => {
        const errors = migrationScheduleSpecSchema
          .validate(newSpec, ['spec'])
          .filter((i) => i.severity === 'error')
          .map((i) => `${formatPath(i.path)}: ${i.message}`);
        if (errors.length > 0) throw new Error(`invalid MigrationSchedule spec: ${errors.join('; ')}`);
      },
    },
  );
  setHandler(
    triggerNowUpdate,
    async (arg) => {
      const updateId = currentUpdateInfo()?.id;
      const seen = updateId ? state.updates?.[updateId] : undefined;
      if (seen) return seen;
      const type = arg?.type ?? (policy ? policyTypes(policy)[0] : undefined) ?? 'interval';
      const started = await trigger(type, Date.now());
      woken = true;
      if (!started)
        throw ApplicationFailure.nonRetryable(
          `no migration started: one of ${name} is running, or it could not start (see the Events)`,
        );
      if (updateId) remember(updateId, started);
      return started;
    },
    {
      validator: (arg) => {
        const updateId = currentUpdateInfo()?.id;
        if (updateId && state.updates?.[updateId]) return; // a retry: the handler returns the same name
        if (arg?.type !== undefined && !POLICY_TYPES.includes(arg.type))
          throw new Error(`type: ${JSON.stringify(arg.type)} is not one of ${POLICY_TYPES.join(', ')}`);
        if (state.running.length > 0)
          throw new Error(`migration ${state.running[0]!.split('/').pop()} is still running`);
        if (!spec && rawSpec === undefined) throw new Error('the schedule has no spec yet');
      },
    },
  );
  setHandler(scheduleStatusQuery, () => ({
    ...state,
    ...(spec ? { spec } : {}),
    items: statusItems(),
    ...(next !== undefined ? { nextTrigger: new Date(next).toISOString() } : {}),
  }));

  // Migrations a previous run left running (ABANDON: continue-as-new does not stop them): this
  // run learns their outcome by asking the server about each (by workflow id) every minute.
  state.updates ??= {};
  for (const workflowId of state.running) void watch(workflowId);

  for (;;) {
    try {
      const version = specVersion;
      const loaded = await api.loadSchedule.executeWithOptions(
        {
          summary: `Read ${rawSpec === undefined ? 'MigrationSchedule' : 'the SchedulePolicy of'} ${namespace}/${name}${rawSpec === undefined ? ' and its SchedulePolicy' : ''}`,
        },
        [{ namespace, name, ...(rawSpec !== undefined ? { spec: rawSpec } : {}) }],
      );
      if (version === specVersion) {
        spec = loaded.spec;
        rawSpec = spec;
      }
      policy = loaded.policy;
      upsertFerrySearchAttributes({
        schedule: name,
        namespace,
        clusterPair: loaded.spec.template.spec.clusterPair,
        ...(policy ? { policyType: [...policyTypes(policy)].sort().join(',') } : {}),
      });
      if (loaded.policyError) {
        const message = `Error checking if migration should be triggered: ${loaded.policyError}`;
        if (state.lastError !== message) events.push({ type: 'Warning', reason: 'Failed', message });
        if (state.lastError !== message) dirty = true;
        state.lastError = message;
      } else if (state.lastError) {
        state.lastError = undefined;
        dirty = true;
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      const message = `Error checking if migration should be triggered: ${innermost(err)}`;
      if (state.lastError !== message) events.push({ type: 'Warning', reason: 'Failed', message });
      state.lastError = message;
      policy = undefined;
      dirty = true;
    }

    const now = Date.now();
    next = undefined;
    if (policy && spec) {
      const nowDt = DateTime.fromMillis(now, { zone: 'utc' });
      const p = policy;
      const checks = policyTypes(p).map((type) => {
        const last = state.lastTrigger[type];
        return {
          type,
          check: dueCheck({
            policyType: type,
            policy: p,
            now: nowDt,
            ...(last !== undefined ? { lastTrigger: DateTime.fromMillis(last, { zone: 'utc' }) } : {}),
          }),
        };
      });
      let active = !spec.suspend && !state.suspended;
      // autoSuspend: before a trigger fires, and every ACTIVATION_POLL_MS meanwhile, ask the
      // standby whether the apps run there; if so, suspend instead of migrating over them.
      if (
        active &&
        spec.autoSuspend &&
        (checks.some((c) => c.check.due) || now - lastActivationCheck >= ACTIVATION_POLL_MS)
      ) {
        lastActivationCheck = now;
        if (await appsActiveOnStandby(spec)) active = false;
      }
      for (const { type, check } of checks) {
        if (active) {
          if (check.skipped > 0)
            skip(type, check.skipped, 'missed (only the latest trigger, within the catch-up window, fires)');
          if (check.due) {
            const at = check.scheduledFor!.toMillis();
            state.lastTrigger[type] = at;
            if (state.running.length > 0) skip(type, 1, `migration ${runningName()} is still running`);
            else await trigger(type, at);
          }
        } else if (check.due) {
          // Suspended: the trigger passes without a migration (not counted as skipped), and
          // does not fire on resume: the schedule resumes on its grid.
          state.lastTrigger[type] = check.scheduledFor!.toMillis();
        }
        const at = check.next.toMillis();
        if (next === undefined || at < next) next = at;
      }
      if (active && spec.autoSuspend && next !== undefined)
        next = Math.min(next, lastActivationCheck + ACTIVATION_POLL_MS);
    }

    await recordFinished();
    if (dirty || events.length > 0) {
      dirty = false;
      const sending = events.splice(0);
      const skippedTriggers = skippedUnpublished;
      skippedUnpublished = 0;
      await api.publishScheduleStatus
        .executeWithOptions(
          {
            summary: `Mirror status${sending.length > 0 ? ` and ${sending.length} Event(s)` : ''} to MigrationSchedule ${namespace}/${name}`,
          },
          [
            {
              namespace,
              name,
              status: { items: statusItems(), applicationActivated: !!state.autoSuspended },
              events: sending,
              ...(skippedTriggers > 0 ? { skippedTriggers } : {}),
            },
          ],
        )
        .catch((err: unknown) => {
          if (isCancellation(err)) throw err;
        });
    }

    const info = workflowInfo();
    const long =
      info.continueAsNewSuggested || (!!input.historyLimit && info.historyLength > input.historyLimit);
    if (long) longSince ??= info.historyLength;
    // A run continues as new between migrations: one that runs is awaited in this run. Only
    // when a migration runs so long that the history doubles past the point where continuing
    // was due does the run continue without it: ABANDON keeps it running, and the next run
    // watches it by workflow id. Before the patch a run never did; histories of that code must
    // still replay, hence the marker.
    const withRunning =
      long &&
      state.running.length > 0 &&
      info.historyLength >= 2 * longSince! &&
      patched(CAN_WITH_RUNNING_PATCH);
    if (long && (state.running.length === 0 || withRunning)) {
      // No activity left in flight either: its result would be lost with this run.
      await condition(() => allHandlersFinished() && polls === 0);
      // A triggerNow handled meanwhile may have started one.
      if (state.running.length === 0 || withRunning)
        await continueAsNew<typeof migrationScheduleWorkflow>({
          namespace,
          name,
          ...(rawSpec !== undefined ? { spec: rawSpec } : {}),
          ...(input.historyLimit ? { historyLimit: input.historyLimit } : {}),
          state,
        });
    }

    setCurrentDetails(scheduleDetails());
    const wait = !policy ? POLICY_RETRY_MS : next === undefined ? undefined : Math.max(0, next - Date.now());
    if (!woken) {
      if (wait === undefined) await condition(() => woken);
      else await condition(() => woken, wait);
    }
    woken = false;
  }

  /**
   * autoSuspend: whether the apps were activated on the standby; when they were, suspends the
   * schedule (spec.suspend true here and on the CR, an Event, status.applicationActivated). A
   * standby that cannot be read is reported and counts as not activated: the migration would
   * tell the same story with its own failure.
   */
  async function appsActiveOnStandby(s: MigrationScheduleSpec): Promise<boolean> {
    let found: StandbyActivation;
    try {
      found = await api.checkStandbyActivation.executeWithOptions(
        {
          summary: clip(
            `autoSuspend: do the apps of ${namespace}/${name} run on ClusterPair ${s.template.spec.clusterPair}'s standby?`,
          ),
        },
        [
          {
            namespace,
            name,
            clusterPair: s.template.spec.clusterPair,
            ...(s.template.spec.namespaces ? { namespaces: s.template.spec.namespaces } : {}),
            ...(s.template.spec.namespaceSelectors
              ? { namespaceSelectors: s.template.spec.namespaceSelectors }
              : {}),
          },
        ],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      const message = `Error checking if migrated apps are active on the remote cluster: ${innermost(err)}`;
      if (state.lastError !== message) events.push({ type: 'Warning', reason: 'Failed', message });
      state.lastError = message;
      dirty = true;
      return false;
    }
    if (!found.active) {
      if (state.autoSuspended) {
        delete state.autoSuspended;
        dirty = true;
      }
      return false;
    }
    spec = { ...s, suspend: true };
    rawSpec = spec;
    specVersion += 1;
    state.autoSuspended = { at: new Date(Date.now()).toISOString(), evidence: found.evidence };
    events.push({
      type: 'Normal',
      reason: 'Suspended',
      message: 'Suspending migration schedule since migrated apps on remote cluster are active',
    });
    dirty = true;
    await api.suspendSchedule
      .executeWithOptions(
        { summary: `autoSuspend: set spec.suspend of MigrationSchedule ${namespace}/${name}` },
        [{ namespace, name }],
      )
      .catch((err: unknown) => {
        if (isCancellation(err)) throw err;
        events.push({
          type: 'Warning',
          reason: 'Failed',
          message: `Error setting spec.suspend of the schedule: ${innermost(err)}`,
        });
      });
    return true;
  }

  /** A migration of an earlier run: its outcome is polled (migrationOutcome) every WATCH_POLL_MS. */
  async function watch(workflowId: string) {
    const mName = workflowId.split('/').pop()!;
    const item = Object.values(state.migrations)
      .flat()
      .find((m) => m.name === mName) ?? {
      name: mName,
      creationTimestamp: new Date(Date.now()).toISOString(),
      status: 'InProgress',
    };
    try {
      for (;;) {
        polls += 1;
        const outcome = await api.migrationOutcome
          .executeWithOptions(
            { summary: clip(`Has migration ${namespace}/${mName} (started by an earlier run) finished?`) },
            [{ workflowId }],
          )
          .finally(() => (polls -= 1));
        if (outcome.status !== 'Running') return done(workflowId, item, outcome.status, outcome.reason);
        await sleep(WATCH_POLL_MS);
      }
    } catch (err) {
      // Cancelled with the schedule: the migration itself is cancelled by whoever cancelled the
      // schedule (the controller), or goes on; nothing more to record here.
      if (!isCancellation(err)) done(workflowId, item, 'Failed', innermost(err));
    }
  }

  function runningName(): string {
    return state.running[0]!.split('/').pop()!;
  }

  function remember(updateId: string, migration: string) {
    const updates = (state.updates ??= {});
    updates[updateId] = migration;
    const ids = Object.keys(updates);
    for (const old of ids.slice(0, Math.max(0, ids.length - REMEMBERED_UPDATES))) delete updates[old];
  }

  function skip(type: PolicyType, count: number, why: string) {
    state.counts.skipped += count;
    skippedUnpublished += count;
    dirty = true;
    events.push({
      type: 'Warning',
      reason: 'Skipped',
      message: `Skipped ${count} ${type} trigger${count === 1 ? '' : 's'}: ${why}`,
    });
  }

  /** Starts the child Migration of a trigger; its name, or undefined when one already runs. */
  async function trigger(type: PolicyType, at: number): Promise<string | undefined> {
    if (state.running.length > 0 || !spec) return undefined;
    const s = spec;
    let mName = migrationName(name, type, DateTime.fromMillis(at, { zone: 'utc' }));
    const taken = new Set(state.migrations[statusKey(type)].map((m) => m.name));
    // Within a second of this type's previous migration: the next free second's name. Histories
    // from before this did reuse the name, hence the marker.
    if (taken.has(mName) && patched(UNIQUE_NAMES_PATCH)) mName = freeMigrationName(name, type, at, taken);
    const workflowId = migrationWorkflowId(namespace, mName);
    const item: ScheduledItem = {
      name: mName,
      creationTimestamp: new Date(Date.now()).toISOString(),
      status: 'InProgress',
    };
    state.running.push(workflowId);
    try {
      const child = await startChild(migrationWorkflow, {
        workflowId,
        args: [
          {
            namespace,
            name: mName,
            spec: s.template.spec,
            labels: { [SCHEDULE_ANNOTATION]: name },
            annotations: { [SCHEDULE_ANNOTATION]: name },
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: clip(
          `Scheduled migration ${namespace}/${mName} (${type}) of MigrationSchedule ${name}`,
        ),
        staticDetails:
          `Started by MigrationSchedule **${namespace}/${name}** for its ${type} trigger of ` +
          `${new Date(at).toISOString()}: namespaces ${(s.template.spec.namespaces ?? []).join(', ') || '(by label)'} ` +
          `to ClusterPair **${s.template.spec.clusterPair}**.`,
        typedSearchAttributes: searchAttributePairs({
          schedule: name,
          namespace,
          clusterPair: s.template.spec.clusterPair,
          policyType: type,
        }),
      });
      state.counts.triggered += 1;
      state.migrations[statusKey(type)].push(item);
      dirty = true;
      child.result().then(
        (status) => {
          countTransfers(status.volumes);
          done(workflowId, item, status.status || 'Successful');
        },
        (err: unknown) => done(workflowId, item, 'Failed', innermost(err)),
      );
      return mName;
    } catch (err) {
      state.running = state.running.filter((id) => id !== workflowId);
      if (isCancellation(err)) throw err;
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        skip(type, 1, `migration ${mName} already exists`);
      else skip(type, 1, `migration ${mName} could not start: ${innermost(err)}`);
      return undefined;
    }
  }

  function countTransfers(volumes: MigrationStatus['volumes']) {
    for (const v of volumes ?? []) {
      if (v.replicationKind === 'full') state.counts.fullTransfers = (state.counts.fullTransfers ?? 0) + 1;
      else if (v.replicationKind === 'incremental')
        state.counts.incrementalTransfers = (state.counts.incrementalTransfers ?? 0) + 1;
    }
  }

  function done(workflowId: string, item: ScheduledItem, status: string, reason?: string) {
    state.running = state.running.filter((id) => id !== workflowId);
    item.status = status;
    item.finishTimestamp = new Date(Date.now()).toISOString();
    if (status === 'Successful') {
      state.counts.succeeded += 1;
      events.push({
        type: 'Normal',
        reason: 'Successful',
        message: `Scheduled migration (${item.name}) completed successfully`,
      });
    } else {
      state.counts.failed += 1;
      events.push({
        type: 'Warning',
        reason: status === 'Failed' ? 'Failed' : status,
        message: `Scheduled migration (${item.name}) status ${status}${reason ? `: ${reason}` : ''}`,
      });
    }
    finished.push(item.name);
    dirty = woken = true;
  }

  /** The live state for the Web UI (setCurrentDetails), Markdown. */
  function scheduleDetails(): string {
    const c = state.counts;
    const paused = spec?.suspend || state.suspended;
    return [
      `**MigrationSchedule ${namespace}/${name}**: ${paused ? '**suspended**' : 'active'}${state.autoSuspended ? ' (autoSuspend: apps active on the standby)' : ''}`,
      '',
      `- running: ${state.running.length > 0 ? runningName() : 'none'}`,
      `- next trigger: ${next !== undefined ? new Date(next).toISOString() : 'none'}`,
      `- migrations: ${c.triggered} triggered, ${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped`,
      `- volume transfers: ${c.fullTransfers ?? 0} full, ${c.incrementalTransfers ?? 0} incremental`,
      ...(state.lastError ? [`- error: ${state.lastError}`] : []),
    ].join('\n');
  }

  /** Retention: per type, the newest `retain` migrations stay; older finished ones are deleted. */
  async function recordFinished() {
    if (finished.length === 0 || !policy) return;
    finished.length = 0;
    for (const type of policyTypes(policy)) {
      const list = state.migrations[statusKey(type)];
      const retain = policy[type]?.retain ?? 10;
      const old = list.slice(0, Math.max(0, list.length - retain)).filter((m) => m.status !== 'InProgress');
      if (old.length === 0) continue;
      const names = old.map((m) => m.name);
      try {
        await api.deleteMigrations.executeWithOptions(
          {
            summary: clip(
              `Retention: delete ${names.length} ${type} Migration CR(s) of ${namespace}: ${names.join(', ')}`,
            ),
          },
          [{ namespace, names }],
        );
        state.counts.deleted += names.length;
        state.migrations[statusKey(type)] = list.filter((m) => !names.includes(m.name));
        dirty = true;
      } catch (err) {
        if (isCancellation(err)) throw err;
      }
    }
  }

  /** Stork's status: per type the last successful migration and every failed or running one. */
  function statusItems(): MigrationScheduleStatus['items'] {
    const out = {} as Record<StatusKey, ScheduledItem[]>;
    for (const key of ['Interval', 'Daily', 'Weekly', 'Monthly'] as const) {
      const list = state.migrations[key];
      const lastOk = list.map((m) => m.status).lastIndexOf('Successful');
      out[key] = list.filter((m, i) => m.status !== 'Successful' || i === lastOk);
    }
    return out as MigrationScheduleStatus['items'];
  }
}

/** The innermost message: a child's or activity's ApplicationFailure, not its wrapper. */
function innermost(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as { message?: string; cause?: unknown };
  return e?.message ?? String(err);
}
