// The Migration controller: maps each Migration CR of the protected cluster to its workflow.
//
//   applied      add the finalizer, start `migration/<ns>/<name>` (USE_EXISTING: a restarted
//                controller, or a CR whose workflow a schedule or the CLI already started,
//                attaches to the running one instead of starting a second)
//   finished     a CR whose status is Successful, PartialSuccess or Failed starts nothing
//   deleted      cancel the workflow, then remove the finalizer so the CR goes
//
// The list+watch machinery is watch-loop.ts's.
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { Logger } from 'pino';
import { KubeError, type KubeClient } from '../../kube/client.js';
import { storkKind } from '../../activities/kube/stork.js';
import {
  ANNOTATIONS,
  annotationsOf,
  isPlainObject,
  nameOf,
  namespaceOf,
  type KubeObject,
} from '../../resources/objects.js';
import { migrationWorkflowId } from '../../workflows/migration.js';
import { searchAttributePairs } from '../../workflows/search-attributes.js';
import { WatchLoop } from './watch-loop.js';

export const FINALIZER = 'stork.libopenstorage.org/ferry-workflow';
const MIGRATION = storkKind('Migration');
const FINAL = new Set(['Successful', 'PartialSuccess', 'Failed']);

export interface ControllerOptions {
  kube: KubeClient;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  onReconcile?: (outcome: 'started' | 'finished' | 'deleted' | 'error') => void;
}

export class MigrationController {
  private readonly loop: WatchLoop;

  constructor(private readonly opts: ControllerOptions) {
    this.loop = new WatchLoop({
      kube: opts.kube,
      kind: MIGRATION,
      log: opts.log,
      reconcile: (cr, listed) => this.reconcile(cr, listed),
      onError: () => opts.onReconcile?.('error'),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /**
   * `listed`: the CR comes from a (re)list, after a start or a watch error, so its workflow may
   * never have been started; a watch event of a CR that already has a status (which only its
   * workflow writes) needs no start.
   */
  async reconcile(cr: KubeObject, listed: boolean): Promise<void> {
    const namespace = namespaceOf(cr);
    const name = nameOf(cr);
    const workflowId = migrationWorkflowId(namespace, name);
    const finalizers = (cr.metadata?.['finalizers'] as string[] | undefined) ?? [];
    const log = this.opts.log.child({ migration: `${namespace}/${name}` });
    if (cr.metadata?.['deletionTimestamp']) {
      if (!finalizers.includes(FINALIZER)) return;
      try {
        const handle = this.opts.temporal.workflow.getHandle(workflowId);
        const { status } = await handle.describe();
        if (status.name === 'RUNNING') {
          await handle.cancel();
          log.info('CR deleted: cancelled its workflow');
        }
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      await this.setFinalizers(
        cr,
        finalizers.filter((f) => f !== FINALIZER),
      );
      this.opts.onReconcile?.('deleted');
      return;
    }
    if (!finalizers.includes(FINALIZER)) await this.setFinalizers(cr, [...finalizers, FINALIZER]);
    const status = isPlainObject(cr['status']) ? String(cr['status']['status'] ?? '') : '';
    if (FINAL.has(status)) {
      this.opts.onReconcile?.('finished');
      return;
    }
    if (status !== '' && !listed) return;
    const spec = isPlainObject(cr['spec']) ? cr['spec'] : {};
    const handle = await this.opts.temporal.workflow.start('migrationWorkflow', {
      workflowId,
      taskQueue: this.opts.taskQueue,
      args: [{ namespace, name }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `Migration ${namespace}/${name} to ClusterPair ${String(spec['clusterPair'] ?? '?')}`,
      staticDetails: `Started by the Migration controller for \`kubectl apply\` of Migration **${namespace}/${name}**.`,
      typedSearchAttributes: searchAttributePairs({
        namespace,
        ...(typeof spec['clusterPair'] === 'string' ? { clusterPair: spec['clusterPair'] } : {}),
        ...(annotationsOf(cr)[ANNOTATIONS.scheduleName]
          ? { schedule: annotationsOf(cr)[ANNOTATIONS.scheduleName] }
          : {}),
      }),
    });
    log.info({ runId: handle.firstExecutionRunId }, 'workflow started (or already running)');
    this.opts.onReconcile?.('started');
  }

  /** Sets the finalizers if the CR is still the version read; a 409 means a newer version is on its way. */
  private async setFinalizers(cr: KubeObject, finalizers: string[]): Promise<void> {
    try {
      await this.opts.kube.mergePatch(MIGRATION, namespaceOf(cr), nameOf(cr), {
        metadata: { finalizers, resourceVersion: cr.metadata?.['resourceVersion'] },
      });
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409)) throw err;
      const fresh = await this.opts.kube.get(MIGRATION, namespaceOf(cr), nameOf(cr));
      if (fresh) this.loop.enqueue(fresh, true);
      throw new Error('the CR changed while it was reconciled; reconciling its newer version');
    }
  }
}
