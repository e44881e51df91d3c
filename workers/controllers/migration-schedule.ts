// The MigrationSchedule controller: maps each MigrationSchedule CR of the protected cluster to its
// long-lived workflow `migrationschedule/<ns>/<name>`.
//
//   applied      add the finalizer, start the workflow (USE_EXISTING: a restarted controller
//                attaches to the running one), and send the spec through the `updateSpec` update
//                whenever metadata.generation moves (a status write does not move it)
//   deleted      cancel the schedule's workflow and any migration it runs, delete every Migration
//                carrying the schedule's annotation (no garbage collector runs in the local
//                clusters: what Ferry created, Ferry deletes), then remove the finalizer
//
// The list+watch machinery is watch-loop.ts's, shared with the Migration controller.
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type WorkflowHandle,
} from '@temporalio/client';
import { KubeError } from '../../kube/client.js';
import { storkKind } from '../../activities/kube/stork.js';
import { ANNOTATIONS, isPlainObject, nameOf, namespaceOf, type KubeObject } from '../../resources/objects.js';
import { migrationWorkflowId } from '../../workflows/migration.js';
import { migrationScheduleWorkflowId, type ScheduleStatusView } from '../../workflows/migration-schedule.js';
import { searchAttributePairs } from '../../workflows/search-attributes.js';
import { FINALIZER, type ControllerOptions } from './migration.js';
import { WatchLoop } from './watch-loop.js';

const SCHEDULE = storkKind('MigrationSchedule');
const MIGRATION = storkKind('Migration');

export interface ScheduleControllerOptions extends ControllerOptions {
  /** Every MigrationSchedule CR the watch delivers, before it is reconciled (metrics). */
  onSchedule?: (cr: KubeObject) => void;
}

export class MigrationScheduleController {
  /** The metadata.generation whose spec the workflow has, per schedule (this process's memory). */
  private readonly sent = new Map<string, number>();
  private readonly loop: WatchLoop;

  constructor(private readonly opts: ScheduleControllerOptions) {
    this.loop = new WatchLoop({
      kube: opts.kube,
      kind: SCHEDULE,
      log: opts.log,
      reconcile: (cr) => this.reconcile(cr),
      onError: () => opts.onReconcile?.('error'),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async reconcile(cr: KubeObject): Promise<void> {
    this.opts.onSchedule?.(cr);
    const namespace = namespaceOf(cr);
    const name = nameOf(cr);
    const key = `${namespace}/${name}`;
    const workflowId = migrationScheduleWorkflowId(namespace, name);
    const finalizers = (cr.metadata?.['finalizers'] as string[] | undefined) ?? [];
    const log = this.opts.log.child({ migrationSchedule: key });
    if (cr.metadata?.['deletionTimestamp']) {
      if (!finalizers.includes(FINALIZER)) return;
      await this.tearDown(namespace, name, workflowId);
      this.sent.delete(key);
      await this.setFinalizers(
        cr,
        finalizers.filter((f) => f !== FINALIZER),
      );
      log.info('CR deleted: workflow cancelled, its Migrations deleted');
      this.opts.onReconcile?.('deleted');
      return;
    }
    if (!finalizers.includes(FINALIZER)) await this.setFinalizers(cr, [...finalizers, FINALIZER]);
    const generation = Number(cr.metadata?.['generation'] ?? 0);
    if (this.sent.get(key) === generation) return;
    const spec = isPlainObject(cr['spec']) ? cr['spec'] : {};
    const handle = await this.opts.temporal.workflow.start('migrationScheduleWorkflow', {
      workflowId,
      taskQueue: this.opts.taskQueue,
      args: [{ namespace, name }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `MigrationSchedule ${namespace}/${name}: policy ${String(spec['schedulePolicyName'] ?? '?')}`,
      staticDetails: `Started by the MigrationSchedule controller for \`kubectl apply\` of MigrationSchedule **${namespace}/${name}**.`,
      typedSearchAttributes: searchAttributePairs({ namespace, schedule: name }),
    });
    // The running workflow may hold an older spec (the CR changed, or it ran before a restart).
    await handle.executeUpdate('updateSpec', { args: [spec] });
    this.sent.set(key, generation);
    log.info({ runId: handle.firstExecutionRunId, generation }, 'workflow started (or attached), spec sent');
    this.opts.onReconcile?.('started');
  }

  /** Cancels the schedule and its running migrations, and deletes every Migration it made. */
  private async tearDown(namespace: string, name: string, workflowId: string): Promise<void> {
    const temporal = this.opts.temporal;
    const schedule = temporal.workflow.getHandle(workflowId);
    const running = new Set<string>();
    if (await isRunning(schedule)) {
      try {
        const status = await schedule.query<ScheduleStatusView>('status');
        for (const id of status.running) running.add(id);
      } catch {
        // No worker answered the query: the Migrations listed below are cancelled anyway.
      }
      await schedule.cancel();
    }
    const owned = (await this.opts.kube.list(MIGRATION, namespace)).items.filter(
      (m) =>
        (m.metadata?.['annotations'] as Record<string, string> | undefined)?.[ANNOTATIONS.scheduleName] ===
        name,
    );
    for (const m of owned) running.add(migrationWorkflowId(namespace, nameOf(m)));
    for (const id of running) {
      const handle = temporal.workflow.getHandle(id);
      if (await isRunning(handle)) await handle.cancel();
    }
    for (const m of owned) await this.opts.kube.delete(MIGRATION, namespace, nameOf(m));
  }

  private async setFinalizers(cr: KubeObject, finalizers: string[]): Promise<void> {
    try {
      await this.opts.kube.mergePatch(SCHEDULE, namespaceOf(cr), nameOf(cr), {
        metadata: { finalizers, resourceVersion: cr.metadata?.['resourceVersion'] },
      });
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409)) throw err;
      const fresh = await this.opts.kube.get(SCHEDULE, namespaceOf(cr), nameOf(cr));
      if (fresh) this.loop.enqueue(fresh, true);
      throw new Error('the CR changed while it was reconciled; reconciling its newer version');
    }
  }
}

async function isRunning(handle: WorkflowHandle): Promise<boolean> {
  try {
    return (await handle.describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
