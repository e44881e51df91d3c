// The list+watch loop every controller runs over one kind: list everything, reconcile each,
// watch from that list's resourceVersion, and on any watch error list again after a pause, so
// missed events are caught up. Reconciles of one object run one at a time, in order.
//
// stop() ends the loop even when the watch request is still waiting for the API server's answer
// (client-node hands out its abort controller only once the response has started).
import { Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeClient } from '../../kube/client.js';
import { nameOf, namespaceOf, type KubeObject, type ResourceKind } from '../../resources/objects.js';

export interface WatchLoopOptions {
  kube: KubeClient;
  kind: ResourceKind;
  log: Logger;
  /** `listed`: the object comes from a (re)list rather than a watch event. */
  reconcile: (cr: KubeObject, listed: boolean) => Promise<void>;
  onError?: () => void;
}

export class WatchLoop {
  private stopped = false;
  private abort: AbortController | null = null;
  private endWatch: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly opts: WatchLoopOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.endWatch?.();
    await this.loop;
    await Promise.all(this.queues.values());
  }

  /** Reconciles `cr` after any reconcile of the same object already queued. */
  enqueue(cr: KubeObject, listed: boolean): void {
    const key = `${namespaceOf(cr)}/${nameOf(cr)}`;
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => this.opts.reconcile(cr, listed))
      .catch((err: unknown) => {
        this.opts.onError?.();
        this.opts.log.error({ [this.opts.kind.kind]: key, err: (err as Error).message }, 'reconcile failed');
      });
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const list = await this.opts.kube.list(this.opts.kind);
        for (const cr of list.items) this.enqueue(cr, true);
        await this.watch(list.resourceVersion);
      } catch (err) {
        if (!this.stopped)
          this.opts.log.warn(
            { kind: this.opts.kind.kind, err: (err as Error).message },
            'watch failed; listing again',
          );
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private watch(resourceVersion: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.endWatch = resolve;
      if (this.stopped) return resolve();
      void new Watch(this.opts.kube.kc)
        .watch(
          KubeClient.path(this.opts.kind),
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
}
