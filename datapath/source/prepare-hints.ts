// Source side: naming to the destination, while the snapshot runs, the large files it is about to
// re-read, so the destination copies their previous version meanwhile instead of at the commit
// (destination/prepare.ts has the why and the measurements). Best effort: a hint costs one small
// request per batch of paths, failures are ignored (the commit then copies as before), and a
// destination without the route (404) is not asked again during this replication.
import type { AgentClient } from '../client/client.js';
import { MAX_PREPARE_PATHS, PATCH_MIN_BYTES } from '../protocol/limits.js';

export class PrepareHints {
  private readonly queue: string[] = [];
  private sending = false;
  private off = false;

  constructor(
    private readonly dest: AgentClient,
    private readonly volume: string,
    private readonly signal: AbortSignal,
  ) {}

  /** SnapshotOptions.onReread: queues `path` when it is large enough to be patched. */
  readonly add = (path: string, size: number): void => {
    if (this.off || size < PATCH_MIN_BYTES) return;
    this.queue.push(path);
    this.pump();
  };

  private pump(): void {
    if (this.sending || this.off || this.queue.length === 0 || this.signal.aborted) return;
    const paths = this.queue.splice(0, MAX_PREPARE_PATHS);
    this.sending = true;
    this.dest
      .prepareStandby(this.volume, paths, { signal: this.signal })
      .catch(() => {
        this.off = true;
      })
      .finally(() => {
        this.sending = false;
        this.pump();
      });
  }
}
