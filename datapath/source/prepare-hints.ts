// Source side: naming to the destination the large files it will patch, so it copies their
// previous version ahead of the commit (destination/prepare.ts has the why and the measurements).
// Named as early as the source can:
//  * while a snapshot runs that knows its destination (one a replication takes, or one requested
//    with SnapshotRequest.destination, as a Migration's is: activities/volumes.ts), each changed
//    file it is about to re-read. It knows no more yet, so a file rewritten whole is named too and
//    its copy goes unused;
//  * when a transfer starts, the files whose entries differ from the destination's current restore
//    point in a way that patching pays (protocol/patch.ts filesToPatch): what a replication of a
//    snapshot taken without a destination still gains.
// Each path is named once per replication. Best effort: a hint costs one small
// request per batch of paths, failures are ignored (the commit then copies as before), and a
// destination without the route (404) is not asked again during this replication.
import { AgentClient } from '../client/client.js';
import type { DestinationSpec } from '../protocol/agent-api.js';
import { MAX_PREPARE_PATHS, PATCH_MIN_BYTES } from '../protocol/limits.js';

export class PrepareHints {
  private readonly queue: string[] = [];
  /** The snapshot the named files are for (sent along: the destination ignores it once committed). */
  private forId: string | undefined;
  private readonly named = new Set<string>();
  private sending = false;
  private off = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly dest: AgentClient,
    private readonly volume: string,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * SnapshotOptions.onReread: queues `path` when it is large enough to be patched, for the
   * restore point that snapshot `snapshotId` will become.
   */
  readonly add = (path: string, size: number, snapshotId: string): void => {
    this.forId = snapshotId;
    if (this.off || size < PATCH_MIN_BYTES || this.named.has(path)) return;
    this.named.add(path);
    this.queue.push(path);
    this.pump();
  };

  /** Resolves once every queued path has been sent (or given up on). */
  idle(): Promise<void> {
    if (!this.sending) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private pump(): void {
    if (this.sending) return;
    if (this.off || this.queue.length === 0 || this.signal.aborted) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    const paths = this.queue.splice(0, MAX_PREPARE_PATHS);
    this.sending = true;
    this.dest
      .prepareStandby(this.volume, paths, {
        signal: this.signal,
        ...(this.forId ? { forRestorePoint: this.forId } : {}),
      })
      .catch(() => {
        this.off = true;
      })
      .finally(() => {
        this.sending = false;
        this.pump();
      });
  }
}

/**
 * Hints for a snapshot taken on its own request that names the destination it is for
 * (SnapshotRequest.destination): with their own client, closed once the last hint is answered.
 */
export function snapshotHints(
  d: DestinationSpec,
  volume: string,
): { add: PrepareHints['add']; end: () => void } {
  const client = new AgentClient(d, { maxSockets: 1, timeoutMs: 30_000 });
  const hints = new PrepareHints(client, d.volume ?? volume, new AbortController().signal);
  return {
    add: hints.add,
    end: () => void hints.idle().finally(() => client.close()),
  };
}
