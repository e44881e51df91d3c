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
import { BUILD_MIN_BYTES, MAX_BUILD_CHUNKS, MAX_PREPARE_PATHS, PATCH_MIN_BYTES } from '../protocol/limits.js';
import type { BuildPiece } from '../protocol/build-hints.js';
import type { ChunkRef } from '../protocol/manifest.js';

/**
 * Sends queued hints to the destination one request at a time. Best effort: the first failure
 * (including 404 from a destination without the route) stops the sending for this replication.
 */
abstract class HintSender<T> {
  protected queue: T[] = [];
  protected off = false;
  private sending = false;
  private waiters: Array<() => void> = [];

  constructor(protected readonly signal: AbortSignal) {}

  /** Resolves once every queued hint has been sent (or given up on). */
  idle(): Promise<void> {
    if (!this.sending) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** The request for the next hints (taken off the queue). */
  protected abstract request(): Promise<unknown>;

  protected pump(): void {
    if (this.sending) return;
    if (this.off || this.queue.length === 0 || this.signal.aborted) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    this.sending = true;
    this.request()
      .catch(() => {
        this.off = true;
      })
      .finally(() => {
        this.sending = false;
        this.pump();
      });
  }
}

export class PrepareHints extends HintSender<string> {
  /** The snapshot the named files are for (sent along: the destination ignores it once committed). */
  private forId: string | undefined;
  private readonly named = new Set<string>();

  constructor(
    private readonly dest: AgentClient,
    private readonly volume: string,
    signal: AbortSignal,
  ) {
    super(signal);
  }

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

  protected request(): Promise<unknown> {
    return this.dest.prepareStandby(this.volume, this.queue.splice(0, MAX_PREPARE_PATHS), {
      signal: this.signal,
      ...(this.forId ? { forRestorePoint: this.forId } : {}),
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

/**
 * Source side of destination/build.ts: names the chunks of a snapshot's large new files to the
 * destination as the snapshot cuts them (SnapshotOptions.onFileChunks), so it writes each file
 * while the chunks arrive instead of in the commit. A file is named once BUILD_MIN_BYTES of it are
 * cut (smaller files are not); its chunks go in order, each request carrying what was cut while
 * the previous one was answered (at most MAX_BUILD_CHUNKS). Best effort, like PrepareHints: a
 * failure or a destination without the route stops the naming for this replication, and the
 * commit writes what was not built.
 */
export class BuildHints extends HintSender<BuildPiece> {
  /** Per file: chunks cut so far that were named (or queued), their bytes, and whether it is complete. */
  private readonly files = new Map<string, { named: number; bytes: number; done: boolean }>();
  private forId = '';

  constructor(
    private readonly dest: AgentClient,
    private readonly volume: string,
    signal: AbortSignal,
  ) {
    super(signal);
  }

  /** SnapshotOptions.onFileChunks. */
  readonly add = (path: string, chunks: readonly ChunkRef[], done: boolean, snapshotId: string): void => {
    if (this.off) return;
    this.forId = snapshotId;
    let f = this.files.get(path);
    if (!f || chunks.length < f.named || f.done) {
      // A file read again starts over: what was named of it is dropped here and replaced there.
      this.queue = this.queue.filter((p) => p.path !== path);
      f = { named: 0, bytes: 0, done: false };
      this.files.set(path, f);
    }
    let bytes = f.bytes;
    for (let i = f.named; i < chunks.length; i++) bytes += (chunks[i] as ChunkRef)[1];
    if (f.named === 0 && bytes < BUILD_MIN_BYTES) {
      if (done) this.files.delete(path); // too small to be worth it: the commit writes it
      return; // not named until BUILD_MIN_BYTES of it are cut
    }
    const fresh = chunks.slice(f.named);
    const last = this.queue.at(-1);
    if (last?.path === path && last.from + last.chunks.length === f.named) {
      last.chunks.push(...fresh);
      last.done = done;
    } else this.queue.push({ path, from: f.named, chunks: fresh, done });
    f.named = chunks.length;
    f.bytes = bytes;
    f.done = done;
    this.pump();
  };

  /** The next pieces, at most MAX_BUILD_CHUNKS chunks (a longer piece is split). */
  protected request(): Promise<unknown> {
    const batch: BuildPiece[] = [];
    let room = MAX_BUILD_CHUNKS;
    while (this.queue.length > 0 && room > 0) {
      const p = this.queue[0] as BuildPiece;
      if (p.chunks.length <= room) {
        batch.push(p);
        this.queue.shift();
        room -= p.chunks.length;
      } else {
        batch.push({ path: p.path, from: p.from, chunks: p.chunks.slice(0, room), done: false });
        this.queue[0] = { ...p, from: p.from + room, chunks: p.chunks.slice(room) };
        room = 0;
      }
    }
    return this.dest.buildStandby(this.volume, this.forId, batch, { signal: this.signal });
  }
}
