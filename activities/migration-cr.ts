// The Migration CR as a mirror of its workflow: read (or create) it at the start, write its
// status subresource and Events as the workflow moves on. The workflow is the truth; a failed
// status write is retried by Temporal and never changes the migration's outcome.
import { Context } from '@temporalio/activity';
import {
  formatIssue,
  migrationSpecSchema,
  validateObject,
  API_GROUP,
  API_VERSION,
  type MigrationSpec,
} from '../api/index.js';
import { ANNOTATIONS, isPlainObject } from '../resources/objects.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KubeError } from '../kube/client.js';
import { mirrorStatus, storkKind } from './kube/stork.js';
import {
  NON_RETRYABLE,
  type PreparedMigration,
  type PrepareMigrationInput,
  type PublishInput,
} from './types.js';

const MIGRATION = storkKind('Migration');

export async function prepareMigration(
  deps: ActivityDeps,
  input: PrepareMigrationInput,
): Promise<PreparedMigration> {
  const signal = Context.current().cancellationSignal;
  let cr = await deps.source.get(MIGRATION, input.namespace, input.name, signal);
  if (!cr) {
    if (input.spec === undefined)
      fail(
        NON_RETRYABLE.notFound,
        `Migration ${input.namespace}/${input.name} not found, and the workflow was started without a spec`,
      );
    const manifest = {
      apiVersion: `${API_GROUP}/${API_VERSION}`,
      kind: 'Migration',
      metadata: {
        name: input.name,
        namespace: input.namespace,
        ...(input.labels ? { labels: input.labels } : {}),
        ...(input.annotations ? { annotations: input.annotations } : {}),
      },
      spec: input.spec,
    };
    checkSpec(manifest);
    try {
      cr = await deps.source.create(MIGRATION, manifest, signal);
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409)) throw err;
      cr = await deps.source.get(MIGRATION, input.namespace, input.name, signal);
      if (!cr) throw err;
    }
  }
  const spec = checkSpec(cr);
  return {
    spec,
    uid: String(cr.metadata?.uid ?? ''),
    creationTimestamp: String(cr.metadata?.['creationTimestamp'] ?? ''),
  };
}

/** The CR's spec, validated and defaulted by the same schema as `ferry validate`. */
function checkSpec(cr: Record<string, unknown>): MigrationSpec {
  const { object, issues } = validateObject({ ...cr, status: undefined });
  const errors = issues.filter((i) => i.severity === 'error');
  if (!object || errors.length > 0) fail(NON_RETRYABLE.invalidSpec, errors.map(formatIssue).join('; '));
  if (object.kind !== 'Migration')
    fail(NON_RETRYABLE.invalidSpec, `expected a Migration, got ${object.kind}`);
  return migrationSpecSchema.applyDefaults(isPlainObject(cr['spec']) ? cr['spec'] : {}) as MigrationSpec;
}

export async function publishMigrationStatus(deps: ActivityDeps, input: PublishInput): Promise<void> {
  const { namespace, name, status, events } = input;
  const ctx = Context.current();
  const cr = await mirrorStatus(
    deps.source,
    'Migration',
    { namespace, name },
    status,
    events,
    ctx.cancellationSignal,
  );
  if (deps.observer && FINAL_STATUSES.has(status.status ?? '')) {
    const run = ctx.info.workflowExecution;
    const annotations = (cr?.metadata?.['annotations'] ?? {}) as Record<string, string>;
    const created = cr?.metadata?.['creationTimestamp'];
    deps.observer.migrationFinished({
      key: `${run?.workflowId ?? namespace}/${run?.runId ?? name}`,
      namespace,
      name,
      schedule: annotations[ANNOTATIONS.scheduleName] ?? '',
      status,
      ...(typeof created === 'string' ? { creationTimestamp: created } : {}),
    });
  }
}

const FINAL_STATUSES = new Set(['Successful', 'PartialSuccess', 'Failed']);
