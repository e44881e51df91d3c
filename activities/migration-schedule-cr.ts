// The MigrationSchedule CR as seen by its workflow: read its spec and its policy at each wake-up,
// mirror the workflow's status and Events to it, and delete the Migrations retention lets go;
// for autoSuspend, tell whether its apps were activated on the standby, and suspend the CR.
// The workflow is the truth: a schedule started without a CR (temporal CLI, SDK) gives its spec
// in the input, and a status write to a CR that does not exist is a no-op.
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import {
  formatPath,
  migrationScheduleSpecSchema,
  schedulePolicyItemSchema,
  type MigrationScheduleSpec,
  type SchedulePolicyItem,
} from '../api/index.js';
import { runningMigratedWorkloads, SCALED_KINDS } from '../resources/activated.js';
import { isPlainObject } from '../resources/objects.js';
import { loadClusterPair } from './cluster-pair.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KubeError } from '../kube/client.js';
import { mirrorStatus, storkKind } from './kube/stork.js';
import { migrationNamespaces } from './plan.js';
import {
  NON_RETRYABLE,
  type DeleteMigrationsInput,
  type LoadedSchedule,
  type LoadScheduleInput,
  type ObjectRef,
  type PublishScheduleInput,
  type AwaitMigrationInput,
  type MigrationOutcome,
  type StandbyActivation,
  type StandbyActivationInput,
} from './types.js';

const SCHEDULE = storkKind('MigrationSchedule');
const POLICY = storkKind('SchedulePolicy');
const NAMESPACED_POLICY = storkKind('NamespacedSchedulePolicy');
const MIGRATION = storkKind('Migration');

/** The schema's errors as `spec.<field>: <message>`; empty when the value is valid. */
export function specErrors(spec: unknown, prefix = 'spec'): string[] {
  return migrationScheduleSpecSchema
    .validate(spec, [prefix])
    .filter((i) => i.severity === 'error')
    .map((i) => `${formatPath(i.path)}: ${i.message}`);
}

export async function loadSchedule(deps: ActivityDeps, input: LoadScheduleInput): Promise<LoadedSchedule> {
  const signal = Context.current().cancellationSignal;
  let raw = input.spec;
  if (raw === undefined) {
    const cr = await deps.source.get(SCHEDULE, input.namespace, input.name, signal);
    if (!cr)
      fail(
        NON_RETRYABLE.notFound,
        `MigrationSchedule ${input.namespace}/${input.name} not found, and the workflow was started without a spec`,
      );
    raw = cr['spec'];
  }
  const errors = specErrors(raw);
  if (errors.length > 0) fail(NON_RETRYABLE.invalidSpec, errors.join('; '));
  const spec = migrationScheduleSpecSchema.applyDefaults(raw) as MigrationScheduleSpec;

  const policyName = spec.schedulePolicyName;
  const found =
    (await deps.source.get(NAMESPACED_POLICY, input.namespace, policyName, signal)) ??
    (await deps.source.get(POLICY, undefined, policyName, signal));
  if (!found) return { spec, policyError: `schedulepolicy ${policyName} not found` };
  const item = isPlainObject(found['policy']) ? found['policy'] : {};
  const issues = schedulePolicyItemSchema
    .validate(item, ['policy'])
    .filter((i) => i.severity === 'error')
    .map((i) => `${formatPath(i.path)}: ${i.message}`);
  if (issues.length > 0)
    return { spec, policyError: `schedulepolicy ${policyName} is invalid: ${issues.join('; ')}` };
  return { spec, policy: schedulePolicyItemSchema.applyDefaults(item) as SchedulePolicyItem };
}

export async function publishScheduleStatus(deps: ActivityDeps, input: PublishScheduleInput): Promise<void> {
  const { namespace, name, status, events } = input;
  await mirrorStatus(
    deps.source,
    'MigrationSchedule',
    { namespace, name },
    status,
    events,
    Context.current().cancellationSignal,
  );
  if (input.skippedTriggers) deps.observer?.triggersSkipped({ namespace, name }, input.skippedTriggers);
}

export async function deleteMigrations(deps: ActivityDeps, input: DeleteMigrationsInput): Promise<string[]> {
  const signal = Context.current().cancellationSignal;
  const deleted: string[] = [];
  for (const name of input.names) {
    if (await deps.source.delete(MIGRATION, input.namespace, name, signal)) deleted.push(name);
  }
  return deleted;
}

/**
 * Whether the schedule's apps were activated on the standby, from what the standby holds: its
 * MigrationSchedule of the same name marked `status.applicationActivated` (storkctl activate
 * marks the standby's schedules feeding a namespace), or a migrated workload of the schedule's
 * namespaces running with replicas > 0 (resources/activated.ts). Read through the ClusterPair's
 * kubeconfig; a standby that cannot be reached is an error (retried), never "not active".
 */
export async function checkStandbyActivation(
  deps: ActivityDeps,
  input: StandbyActivationInput,
): Promise<StandbyActivation> {
  const signal = Context.current().cancellationSignal;
  const pair = await loadClusterPair(deps, { namespace: input.namespace, name: input.clusterPair }, signal);
  const evidence: string[] = [];
  const standbySchedule = await pair.standby.get(SCHEDULE, input.namespace, input.name, signal);
  const status = isPlainObject(standbySchedule?.['status']) ? standbySchedule['status'] : {};
  if (status['applicationActivated'] === true)
    evidence.push(
      `migrationschedule ${input.namespace}/${input.name} on the remote cluster has status.applicationActivated: true`,
    );
  const { namespaces } = await migrationNamespaces(deps.source, input, signal);
  for (const ns of namespaces) {
    for (const [kind, rk] of Object.entries(SCALED_KINDS)) {
      try {
        evidence.push(...runningMigratedWorkloads(kind, (await pair.standby.list(rk, ns, { signal })).items));
      } catch (err) {
        if (!(err instanceof KubeError && err.notFound)) throw err;
      }
    }
    if (evidence.length >= 5) break;
  }
  return { active: evidence.length > 0, evidence: evidence.slice(0, 5) };
}

export async function suspendSchedule(deps: ActivityDeps, input: ObjectRef): Promise<boolean> {
  const signal = Context.current().cancellationSignal;
  try {
    await deps.source.mergePatch(
      SCHEDULE,
      input.namespace,
      input.name,
      { spec: { suspend: true } },
      { signal },
    );
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.notFound) return false;
    throw err;
  }
}

/**
 * The outcome of a Migration workflow that a schedule's earlier run started and then continued
 * as new without (the child is ABANDONed, so it runs on), through the worker's Temporal client:
 * `Running` while it runs (the workflow asks again after a timer: a poll, not a wait, so no
 * activity stays open for hours and time-skipping tests can skip), else its final status.
 */
export async function migrationOutcome(input: AwaitMigrationInput): Promise<MigrationOutcome> {
  const handle = Context.current().client.workflow.getHandle(input.workflowId);
  try {
    const { status } = await handle.describe();
    if (status.name === 'RUNNING') return { status: 'Running' };
    const result = (await handle.result()) as { status?: string } | undefined;
    return { status: result?.status || 'Successful' };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      return { status: 'Failed', reason: `workflow ${input.workflowId} not found` };
    if (err instanceof WorkflowFailedError) {
      let e: { message?: string; cause?: unknown } = err;
      while (e.cause && typeof e.cause === 'object') e = e.cause as { message?: string; cause?: unknown };
      return { status: 'Failed', reason: e.message ?? String(err) };
    }
    throw err;
  }
}
