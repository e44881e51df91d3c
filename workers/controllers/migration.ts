// The Migration controller: maps each Migration CR of the protected cluster to its workflow.
//
//   applied      add the finalizer, start `migration/<ns>/<name>` (USE_EXISTING: a restarted
//                controller, or a CR whose workflow a schedule or the CLI already started,
//                attaches to the running one instead of starting a second)
//   finished     a CR whose status is Successful, PartialSuccess or Failed starts nothing
//   deleted      cancel the workflow, then remove the finalizer so the CR goes
//
// It lists every Migration, then watches from that list's resourceVersion; on any watch error it
// lists again after a short pause, so missed events are caught up.
import { Watch } from '@kubernetes/client-node';
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { Logger } from 'pino';
import { KubeClient, KubeError } from '../../activities/kube/client.js';
import { storkKind } from '../../activities/kube/stork.js';
import { isPlainObject, nameOf, namespaceOf, type KubeObject } from '../../resources/objects.js';
import { migrationWorkflowId } from '../../workflows/migration.js';

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
  private stopped = false;
  private abort: AbortController | null = null;
  private readonly queues = new Map<string, Promise<void>>();
  private loop: Promise<void> | null = null;

  constructor(private readonly opts: ControllerOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
    await Promise.all(this.queues.values());
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const list = await this.opts.kube.list(MIGRATION);
        for (const cr of list.items) this.enqueue(cr, true);
        await this.watch(list.resourceVersion);
      } catch (err) {
        if (!this.stopped)
          this.opts.log.warn({ err: (err as Error).message }, 'migration watch failed; listing again');
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private watch(resourceVersion: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const watch = new Watch(this.opts.kube.kc);
      void watch
        .watch(
          KubeClient.path(MIGRATION),
          { resourceVersion, allowWatchBookmarks: true },
          (type: string, obj: KubeObject) => {
            if (type === 'ADDED' || type === 'MODIFIED') this.enqueue(obj, false);
          },
          (err: unknown) => (err && !this.stopped ? reject(err as Error) : resolve()),
        )
        .then((abort) => {
          this.abort = abort;
          if (this.stopped) abort.abort();
        }, reject);
    });
  }

  /** One reconcile at a time per object, in order. */
  private enqueue(cr: KubeObject, listed: boolean): void {
    const key = `${namespaceOf(cr)}/${nameOf(cr)}`;
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => this.reconcile(cr, listed))
      .catch((err: unknown) => {
        this.opts.onReconcile?.('error');
        this.opts.log.error({ migration: key, err: (err as Error).message }, 'reconcile failed');
      });
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
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
      if (fresh) this.enqueue(fresh, true);
      throw new Error('the CR changed while it was reconciled; reconciling its newer version');
    }
  }
}
