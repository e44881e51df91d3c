// Source side of replication: push one snapshot of a volume to a destination agent.
//
//   snapshotting  take a snapshot (unless the request names one); full → re-read everything.
//                 With nothing to delta against (full, or no restore point at the destination yet)
//                 chunks are streamed to the destination as the snapshot stores them (push.ts),
//                 overlapping the transfer with reading and hashing (the walk does not wait
//                 for the destination to say whether it has a restore point). Incremental: each large
//                 file the snapshot re-reads is named to the destination first
//                 (prepare-hints.ts), which copies its previous version meanwhile.
//                 Once the snapshot is taken the phase is `transferring` while the stream drains.
//   planning      ask the destination which distinct chunks it lacks (replication-plan.ts).
//   transferring  send the missing chunks in their stored (compressed where it paid) form over
//                 `concurrency` parallel streaming uploads of <= 8 MiB each; each upload awaits
//                 'drain' (backpressure) and only `concurrency` batches are ever in memory.
//                 Incremental: a missing chunk that overlaps, at the same file offsets, chunks of
//                 the same path in the destination's current restore point goes as a sub-chunk
//                 delta against them (delta.ts) when that is smaller; chunks whose bases the
//                 destination turns out to lack come back in `needWhole` and are sent whole.
//   (held)        requested with awaitConfirm (a Migration's snapshot step): wait for the id to be
//                 posted again (its transfer step) before committing, `awaitingConfirm` meanwhile.
//   committing    send the manifest — incremental: as a delta against the destination's current
//                 restore point (manifest-delta.ts), whole if it lacks that base — and the
//                 destination materialises it and switches atomically.
//                 409 missing_chunks (e.g. garbage-collected meanwhile) → send those, commit again.
//
// Resumable: content addressing makes every re-send idempotent, so any retryable failure
// (destination down or restarting, connection reset, 5xx) restarts from planning after a backoff,
// which re-asks what is missing and sends only that. A replication keeps retrying while it keeps
// making progress, giving up after `retryWindowMs` without any.
import type { CommitResult, ReplicationPhase, ReplicationStatus } from '../protocol/agent-api.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { AgentClient } from '../client/client.js';
import { AgentApiError, isRetryable } from '../client/errors.js';
import { AgentError } from '../errors.js';
import { AfterAnswer, KeyedMutex } from '../fs-util.js';
import type { DeltaCandidate } from '../protocol/delta.js';
import { planDeltas } from '../protocol/delta.js';
import { manifestChunks, wireManifest } from '../protocol/manifest.js';
import { diffManifest } from '../protocol/manifest-delta.js';
import { filesToPatch } from '../protocol/patch.js';
import { BuildHints, PrepareHints } from './prepare-hints.js';
import { ChunkPusher, type PushEvents, type StreamBase } from './push.js';
import { phaseChanged, tick, view, type Job } from './replication-job.js';
import { planTransfer } from './replication-plan.js';
import type { ReplicationRecords } from './replication-records.js';
import type { SnapshotManager } from './volumes.js';

export interface ReplicationEvents extends PushEvents {
  onFinished?: (status: ReplicationStatus) => void;
}

export class ReplicationRunner {
  retryWindowMs = 120_000;
  /**
   * How long a replication requested with awaitConfirm waits, its data sent, for the confirmation
   * before it is cancelled. Why 5 min: the destination unpins an idle session's chunks after 10,
   * and a Migration confirms once its post-exec rule has run, in seconds; one that failed or was
   * cancelled meanwhile never confirms, and its replication must not hold its snapshot for long.
   */
  confirmWindowMs = 300_000;
  readonly results = { succeeded: 0, failed: 0, cancelled: 0 };
  private readonly push: ChunkPusher;
  /** What a run's snapshot left to compact (TakeOptions.deferCompaction), done once it has ended. */
  private readonly after: AfterAnswer;

  constructor(
    store: ChunkStore,
    private readonly snapshots: SnapshotManager,
    private readonly events: ReplicationEvents,
    private readonly records: ReplicationRecords,
  ) {
    this.push = new ChunkPusher(store, events);
    this.after = new AfterAnswer(new KeyedMutex(), (what, err) =>
      this.events.log?.(`${what} failed`, { error: (err as Error).message }),
    );
  }

  /** Runs a job to its end (succeeded, failed or cancelled); never throws. */
  async run(j: Job): Promise<void> {
    const s = j.status;
    const req = j.request;
    const signal = j.abort.signal;
    let release: (() => void) | null = null;
    let counted: Promise<void> = Promise.resolve();
    let compactAfter = false;
    const dest = new AgentClient(req.destination, { maxSockets: (req.concurrency ?? 3) + 2 });
    const started = Date.now();
    try {
      // on disk before any work: a restarted agent reports this replication interrupted
      await this.setPhase(j, 'snapshotting');
      if (!s.snapshotId) {
        j.hash = this.snapshots.nextHash(req.volume);
        // See ReplicationRequest.streamDuringSnapshot for when nothing should compete with it.
        const stream =
          req.streamDuringSnapshot === false
            ? null
            : await this.push.openStream(j, dest, (id) => this.holdBase(req.volume, id));
        // Incremental: large files the snapshot re-reads are named to the destination at once.
        const hints = s.kind === 'full' ? null : this.hintsFor(j, dest);
        // New large files are named as they are cut, so the destination writes them meanwhile.
        const builds = new BuildHints(dest, s.destination.volume, signal);
        let snap;
        try {
          snap = await this.snapshots.take(req.volume, {
            // a Migration's snapshot step waits for it, its application perhaps quiesced
            full: s.kind === 'full' && !req.awaitConfirm,
            signal,
            ...(stream ? { onChunk: stream.push, onRereadChunks: stream.place } : {}),
            ...(hints ? { onReread: hints.add } : {}),
            onFileChunks: builds.add,
            deferCompaction: true, // compacted once the run has ended (finally, below)
          });
          compactAfter = true;
        } catch (err) {
          await stream?.close(false);
          throw err;
        }
        s.snapshotId = snap.id;
        s.snapshot = snap;
        // Taken: what the stream has left to send is transfer. The phase change answers those
        // waiting for the snapshot (a Migration's snapshot step) now, not after the stream.
        void this.setPhase(j, 'transferring');
        j.transferStartedAt ??= Date.now();
        await stream?.close(true);
      }
      release = this.snapshots.lease(req.volume, s.snapshotId);
      s.snapshot = this.snapshots.get(req.volume, s.snapshotId);
      s.bytesLogical = s.snapshot.bytes;
      for (;;) {
        try {
          await this.transferAndCommit(j, dest);
          break;
        } catch (err) {
          if (signal.aborted) throw signal.reason ?? err;
          if (!isRetryable(err) || Date.now() - j.lastProgressAt > this.retryWindowMs) throw err;
          s.retries++;
          const delay = Math.min(5000, 250 * 2 ** Math.min(5, s.retries - 1));
          this.events.log?.('replication retrying', {
            id: s.id,
            retries: s.retries,
            delayMs: delay,
            error: (err as Error).message,
          });
          await new Promise((r) => setTimeout(r, delay));
          if (signal.aborted) throw signal.reason ?? err;
        }
      }
      counted = this.records.succeeded(req.volume, req.destination);
      tick(j);
      s.phase = 'succeeded';
      this.results.succeeded++;
    } catch (err) {
      const e = signal.aborted && signal.reason instanceof AgentError ? signal.reason : err;
      tick(j);
      s.phase = e instanceof AgentError && e.code === 'cancelled' ? 'cancelled' : 'failed';
      s.error = toReplicationError(e);
      if (s.phase === 'cancelled') this.results.cancelled++;
      else this.results.failed++;
      this.events.log?.('replication failed', { id: s.id, error: s.error.message });
    } finally {
      release?.();
      dest.close();
      s.finishedAt = new Date().toISOString();
      s.durationMs = Date.now() - started;
      if (j.transferStartedAt) {
        const secs = (Date.now() - j.transferStartedAt) / 1000;
        s.rateBytesPerSec = secs > 0 ? Math.round(s.bytesDone / secs) : 0;
      }
      s.etaSeconds = s.phase === 'succeeded' ? 0 : null;
      // its final record (and count) written before anyone is told it ended
      await Promise.all([this.records.save(view(j)), counted]);
      this.events.onFinished?.(view(j));
      phaseChanged(j); // ended: its final status, finishedAt included, is what the waiters get
      // on a later turn of the event loop than the one that answered the waiters
      if (compactAfter)
        this.after.queue('compact', 'compacting the chunk store', async () => {
          await this.snapshots.compact();
        });
    }
  }

  /**
   * Waits for confirm(j) (ReplicationManager.start). Unconfirmed within confirmWindowMs, the
   * replication is cancelled; posting its id again resumes it, with what it sent still counted.
   */
  private async confirmation(j: Job): Promise<void> {
    const s = j.status;
    const signal = j.abort.signal;
    s.awaitingConfirm = true;
    try {
      await new Promise<void>((resolve, reject) => {
        const stop = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', aborted);
          j.onConfirm = undefined;
        };
        const aborted = (): void => {
          stop();
          reject(signal.reason);
        };
        const timer = setTimeout(() => {
          const secs = Math.round(this.confirmWindowMs / 1000);
          j.abort.abort(
            new AgentError(
              499,
              'cancelled',
              `replication cancelled: not confirmed within ${secs} s (requested with awaitConfirm; the Migration that asked for it did not reach its transfer step); posting id ${s.id} again resumes it`,
              false,
            ),
          );
        }, this.confirmWindowMs);
        timer.unref();
        if (signal.aborted) return aborted();
        signal.addEventListener('abort', aborted, { once: true });
        j.onConfirm = () => {
          stop();
          resolve();
        };
      });
    } finally {
      delete s.awaitingConfirm;
    }
  }

  /** Resolves once the compactions runs asked for have ended (for shutdown). */
  compacted(): Promise<void> {
    return this.after.settled();
  }

  /** Snapshot `id` of `volume` held (not pruned) until released, or undefined when it is gone. */
  private holdBase(volume: string, id: string): StreamBase | undefined {
    try {
      const release = this.snapshots.lease(volume, id);
      return { manifest: this.snapshots.manifest(volume, id), release };
    } catch {
      return undefined;
    }
  }

  /** The job's hints (one per replication, so each path is named once however often it retries). */
  private hintsFor(j: Job, dest: AgentClient): PrepareHints {
    return (j.hints ??= new PrepareHints(dest, j.status.destination.volume, j.abort.signal));
  }

  /**
   * Sets the job's phase and writes its record behind (the record is for after a restart; the
   * status is in memory): the run need not wait, except for the first (run).
   */
  private setPhase(j: Job, phase: ReplicationPhase): Promise<void> {
    tick(j);
    const was = j.status.phase;
    j.status.phase = phase;
    if (phase !== was) phaseChanged(j); // a retry plans again: no change
    return this.records.save(view(j));
  }

  private async transferAndCommit(j: Job, dest: AgentClient): Promise<void> {
    const s = j.status;
    const req = j.request;
    const signal = j.abort.signal;
    const session = s.id;
    const destVolume = s.destination.volume;
    const manifest = this.snapshots.manifest(req.volume, s.snapshotId as string);
    const full = s.kind === 'full';
    j.hash = manifest.hash;

    void this.setPhase(j, 'planning');
    const standby = await dest.findStandby(destVolume, { signal });
    if (standby?.current === manifest.id) {
      s.restorePoint = manifest.id;
      return;
    }
    const base = !full && standby?.current ? this.snapshots.manifestById(standby.current) : undefined;
    if (base)
      for (const f of filesToPatch(base, manifest)) this.hintsFor(j, dest).add(f.path, f.size, manifest.id);
    const { unique, missing } = await planTransfer(j, dest, manifest, base);

    void this.setPhase(j, 'transferring');
    j.transferStartedAt ??= Date.now();
    const deltas = base ? planDeltas(manifest, base, new Set(missing)) : new Map<string, DeltaCandidate>();
    const needWhole = await this.push.sendChunks(j, dest, missing, unique, session, deltas);
    if (needWhole.length > 0) await this.push.sendChunks(j, dest, needWhole, unique, session);

    if (req.awaitConfirm && !j.confirmed) await this.confirmation(j);
    void this.setPhase(j, 'committing');
    for (let round = 0; ; round++) {
      try {
        const opts = {
          ...(req.retain !== undefined ? { retain: req.retain } : {}),
          full,
          session,
          signal,
        };
        let sent: { result: CommitResult; bytesSent: number };
        if (base && !full && !j.noManifestDelta) {
          try {
            sent = await dest.commitStandby(destVolume, diffManifest(base, manifest), opts);
          } catch (err) {
            if (!(err instanceof AgentApiError && err.code === 'unknown_base')) throw err;
            j.noManifestDelta = true;
            sent = await dest.commitStandby(destVolume, wireManifest(manifest), opts);
          }
        } else sent = await dest.commitStandby(destVolume, wireManifest(manifest), opts);
        const { result, bytesSent } = sent;
        s.bytesOnWire += bytesSent;
        this.events.onBytesSent?.(bytesSent);
        s.restorePoint = result.restorePoint.id;
        j.lastProgressAt = Date.now();
        return;
      } catch (err) {
        const more =
          err instanceof AgentApiError && err.code === 'missing_chunks'
            ? (err.details?.missing as string[] | undefined)
            : undefined;
        if (!more || round >= 3) throw err;
        const all = manifestChunks(manifest);
        const extra = more.filter((h) => all.has(h));
        s.bytesTotal += extra.reduce((a, h) => a + (all.get(h) ?? 0), 0);
        void this.setPhase(j, 'transferring');
        await this.push.sendChunks(j, dest, extra, all, session);
        void this.setPhase(j, 'committing');
      }
    }
  }
}

function toReplicationError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (err instanceof AgentError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof AgentApiError)
    return { code: err.code, message: `destination: ${err.message}`, retryable: err.retryable };
  if (isRetryable(err)) return { code: 'unavailable', message: (err as Error).message, retryable: true };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err), retryable: false };
}
