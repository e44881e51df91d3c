// Source side of replication: push one snapshot of a volume to a destination agent.
//
//   snapshotting  take a snapshot (unless the request names one); full → re-read everything.
//                 With nothing to delta against (full, or no restore point at the destination yet)
//                 chunks are streamed to the destination as the snapshot stores them (push.ts),
//                 overlapping the transfer with reading and hashing.
//   planning      ask the destination, 8192 hashes per query, which distinct chunks it lacks.
//                 Incremental: chunks of the destination's current restore point are known to be
//                 there (it is one of our snapshots and restore points keep their chunks), so they
//                 are not even asked about. Full: ask about all of them with verify=1, so the
//                 destination re-hashes its copies and reports drifted ones as missing.
//   transferring  send the missing chunks in their stored (compressed where it paid) form over
//                 `concurrency` parallel streaming uploads of <= 8 MiB each; each upload awaits
//                 'drain' (backpressure) and only `concurrency` batches are ever in memory.
//                 Incremental: a missing chunk that overlaps, at the same file offsets, chunks of
//                 the same path in the destination's current restore point goes as a sub-chunk
//                 delta against them (delta.ts) when that is smaller; chunks whose bases the
//                 destination turns out to lack come back in `needWhole` and are sent whole.
//   committing    send the manifest — incremental: as a delta against the destination's current
//                 restore point (manifest-delta.ts), whole if it lacks that base — and the
//                 destination materialises it and switches atomically.
//                 409 missing_chunks (e.g. garbage-collected meanwhile) → send those, commit again.
//
// Resumable: content addressing makes every re-send idempotent, so any retryable failure
// (destination down or restarting, connection reset, 5xx) restarts from planning after a backoff,
// which re-asks what is missing and sends only that. A replication keeps retrying while it keeps
// making progress, giving up after `retryWindowMs` without any. If the source agent itself dies,
// its persisted record becomes failed/interrupted (retryable) on restart, and re-POSTing the same
// id (or the same snapshotId) resumes: chunks already delivered are skipped.
//
// Progress: bytesTotal/bytesDone count raw bytes of the chunks that must move; rate is bytesDone
// over transfer time; ETA = remaining / rate. The destination token is held in memory only: it is
// never logged, persisted, or returned.
import fs from 'node:fs';
import path from 'node:path';
import type {
  CommitResult,
  DestinationSpec,
  ReplicationPhase,
  ReplicationRequest,
  ReplicationStatus,
} from '../protocol/agent-api.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { AgentApiError, AgentClient, isRetryable } from '../client/client.js';
import { AgentError, badRequest, notFound } from '../errors.js';
import { newId, readJson, writeFileAtomic } from '../fs-util.js';
import type { DeltaCandidate } from '../protocol/delta.js';
import { planDeltas } from '../protocol/delta.js';
import type { ChunkRef, Manifest } from '../protocol/manifest.js';
import { isSnapshotId, isVolumeName, manifestChunks, wireManifest } from '../protocol/manifest.js';
import { diffManifest } from '../protocol/manifest-delta.js';
import { replicationKind } from '../protocol/mode.js';
import { ChunkPusher, type PushEvents, type PushJob } from './push.js';
import type { SnapshotManager } from './volumes.js';

const HAVE_BATCH = 8192;
const MAX_KEPT = 500;

export interface ReplicationEvents extends PushEvents {
  onFinished?: (status: ReplicationStatus) => void;
}

interface Job extends PushJob {
  done: Promise<void>;
  transferStartedAt: number | null;
  planned?: boolean;
  /** The destination refused a manifest delta (unknown base): send whole manifests. */
  noManifestDelta?: boolean;
  phaseStartedAt?: number;
}

const TERMINAL: ReplicationPhase[] = ['succeeded', 'failed', 'cancelled'];

export class ReplicationManager {
  private readonly jobs = new Map<string, Job>();
  private counts: Record<string, number> = {};
  private readonly stateDir: string;
  private readonly countsFile: string;
  private readonly push: ChunkPusher;
  retryWindowMs = 120_000;
  results = { succeeded: 0, failed: 0, cancelled: 0 };

  private constructor(
    root: string,
    private readonly store: ChunkStore,
    private readonly snapshots: SnapshotManager,
    private readonly events: ReplicationEvents,
  ) {
    this.stateDir = path.join(root, 'state', 'replications');
    this.countsFile = path.join(root, 'state', 'replication-counts.json');
    this.push = new ChunkPusher(store, events);
  }

  static async open(
    root: string,
    store: ChunkStore,
    snapshots: SnapshotManager,
    events: ReplicationEvents = {},
  ): Promise<ReplicationManager> {
    const m = new ReplicationManager(root, store, snapshots, events);
    await fs.promises.mkdir(m.stateDir, { recursive: true });
    try {
      m.counts = await readJson<Record<string, number>>(m.countsFile);
    } catch {
      m.counts = {};
    }
    for (const f of await fs.promises.readdir(m.stateDir)) {
      const file = path.join(m.stateDir, f);
      if (!f.endsWith('.json')) {
        await fs.promises.rm(file, { force: true });
        continue;
      }
      const status = await readJson<ReplicationStatus>(file).catch(() => null);
      if (!status) continue;
      if (!TERMINAL.includes(status.phase)) {
        status.phase = 'failed';
        status.finishedAt = new Date().toISOString();
        status.error = {
          code: 'interrupted',
          message: 'the source agent restarted during this replication; start it again to resume',
          retryable: true,
        };
        await writeFileAtomic(file, JSON.stringify(status));
      }
      m.jobs.set(status.id, {
        status,
        request: { volume: status.volume, destination: { url: status.destination.url, token: '' } },
        abort: new AbortController(),
        done: Promise.resolve(),
        transferStartedAt: null,
        lastProgressAt: 0,
      });
    }
    return m;
  }

  private countKey(volume: string, d: DestinationSpec): string {
    return `${volume}|${d.url.replace(/\/+$/, '')}|${d.volume ?? volume}`;
  }

  list(): ReplicationStatus[] {
    return [...this.jobs.values()]
      .map((j) => this.view(j))
      .sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
  }

  get(id: string): ReplicationStatus {
    const j = this.jobs.get(id);
    if (!j) throw notFound(`replication ${id} not found`);
    return this.view(j);
  }

  private view(j: Job): ReplicationStatus {
    const s = j.status;
    const now = Date.now();
    if (j.transferStartedAt && !TERMINAL.includes(s.phase)) {
      const secs = (now - j.transferStartedAt) / 1000;
      s.rateBytesPerSec = secs > 0 ? Math.round(s.bytesDone / secs) : 0;
      s.etaSeconds =
        s.rateBytesPerSec > 0 ? Math.max(0, (s.bytesTotal - s.bytesDone) / s.rateBytesPerSec) : null;
    }
    return { ...s, destination: { ...s.destination } };
  }

  /** Starts (or, for a known id, returns or resumes) a replication. */
  start(req: ReplicationRequest): ReplicationStatus {
    validateRequest(req);
    const existing = req.id ? this.jobs.get(req.id) : undefined;
    if (existing) {
      if (existing.status.phase !== 'failed' && existing.status.phase !== 'cancelled')
        return this.view(existing);
      // resume a failed attempt under the same id, reusing its snapshot
      const snapshotId = req.snapshotId ?? existing.status.snapshotId ?? undefined;
      return this.launch(
        { ...req, ...(snapshotId ? { snapshotId } : {}) },
        existing.status.attempt + 1,
        existing.status.kind,
      );
    }
    return this.launch(req, 1, null);
  }

  private launch(
    req: ReplicationRequest,
    attempt: number,
    kindOverride: 'full' | 'incremental' | null,
  ): ReplicationStatus {
    const id = req.id ?? newId('r');
    const destVolume = req.destination.volume ?? req.volume;
    const previous = this.counts[this.countKey(req.volume, req.destination)] ?? 0;
    let kind: 'full' | 'incremental';
    let kindReason: string;
    if (req.full !== undefined) {
      kind = req.full ? 'full' : 'incremental';
      kindReason = 'explicit';
    } else if (kindOverride) {
      kind = kindOverride;
      kindReason = 'resumed attempt';
    } else {
      kind = replicationKind(req.mode, previous);
      kindReason =
        req.mode === 'DisasterRecovery'
          ? 'mode DisasterRecovery'
          : `every 7th is full (previous ${previous})`;
    }
    if (req.snapshotId) this.snapshots.get(req.volume, req.snapshotId);
    const status: ReplicationStatus = {
      id,
      volume: req.volume,
      destination: { url: req.destination.url, volume: destVolume },
      kind,
      kindReason,
      previous,
      snapshotId: req.snapshotId ?? null,
      snapshot: req.snapshotId ? this.snapshots.get(req.volume, req.snapshotId) : null,
      restorePoint: null,
      attempt,
      retries: 0,
      phase: 'pending',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      bytesTotal: 0,
      bytesDone: 0,
      chunksTotal: 0,
      chunksSent: 0,
      chunksSkipped: 0,
      chunksDelta: 0,
      bytesOnWire: 0,
      chunkBytesOnWire: 0,
      bytesLogical: 0,
      rateBytesPerSec: 0,
      etaSeconds: null,
      durationMs: null,
      timings: { snapshotMs: 0, planMs: 0, transferMs: 0, commitMs: 0 },
      error: null,
    };
    const job: Job = {
      status,
      request: req,
      abort: new AbortController(),
      done: Promise.resolve(),
      transferStartedAt: null,
      lastProgressAt: Date.now(),
    };
    this.jobs.set(id, job);
    job.done = this.run(job);
    this.trim();
    return this.view(job);
  }

  cancel(id: string): ReplicationStatus {
    const j = this.jobs.get(id);
    if (!j) throw notFound(`replication ${id} not found`);
    if (!TERMINAL.includes(j.status.phase))
      j.abort.abort(new AgentError(499, 'cancelled', 'replication cancelled', false));
    return this.view(j);
  }

  /** Waits for every running replication to stop (after cancelling them). */
  async shutdown(): Promise<void> {
    for (const j of this.jobs.values())
      if (!TERMINAL.includes(j.status.phase))
        j.abort.abort(new AgentError(503, 'unavailable', 'agent shutting down', true));
    await Promise.allSettled([...this.jobs.values()].map((j) => j.done));
  }

  private trim(): void {
    const terminal = [...this.jobs.values()].filter((j) => TERMINAL.includes(j.status.phase));
    for (const j of terminal.slice(0, Math.max(0, terminal.length - MAX_KEPT))) {
      this.jobs.delete(j.status.id);
      void fs.promises.rm(path.join(this.stateDir, `${j.status.id}.json`), { force: true });
    }
  }

  /** Adds the time since the last phase change to the phase that was running. */
  private tick(j: Job): void {
    const now = Date.now();
    const t = j.status.timings;
    const dt = now - (j.phaseStartedAt ?? now);
    j.phaseStartedAt = now;
    if (j.status.phase === 'snapshotting') t.snapshotMs += dt;
    else if (j.status.phase === 'planning') t.planMs += dt;
    else if (j.status.phase === 'transferring') t.transferMs += dt;
    else if (j.status.phase === 'committing') t.commitMs += dt;
  }

  private persist(j: Job): Promise<void> {
    return writeFileAtomic(
      path.join(this.stateDir, `${j.status.id}.json`),
      JSON.stringify(this.view(j)),
    ).catch(() => undefined);
  }

  private async setPhase(j: Job, phase: ReplicationPhase): Promise<void> {
    this.tick(j);
    j.status.phase = phase;
    await this.persist(j);
  }

  private async run(j: Job): Promise<void> {
    const s = j.status;
    const req = j.request;
    const signal = j.abort.signal;
    let release: (() => void) | null = null;
    const dest = new AgentClient(
      {
        url: req.destination.url,
        token: req.destination.token,
        ...(req.destination.caCertPem ? { caCertPem: req.destination.caCertPem } : {}),
        ...(req.destination.dataUrl ? { dataUrl: req.destination.dataUrl } : {}),
      },
      { maxSockets: (req.concurrency ?? 3) + 2 },
    );
    const started = Date.now();
    try {
      await this.setPhase(j, 'snapshotting');
      if (!s.snapshotId) {
        const stream = await this.push.openStream(j, dest);
        let snap;
        try {
          snap = await this.snapshots.take(req.volume, {
            full: s.kind === 'full',
            signal,
            ...(stream ? { onChunk: stream.push } : {}),
          });
        } catch (err) {
          await stream?.close(false);
          throw err;
        }
        await stream?.close(true);
        s.snapshotId = snap.id;
        s.snapshot = snap;
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
      const key = this.countKey(req.volume, req.destination);
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      await writeFileAtomic(this.countsFile, JSON.stringify(this.counts));
      this.tick(j);
      s.phase = 'succeeded';
      this.results.succeeded++;
    } catch (err) {
      const e = signal.aborted && signal.reason instanceof AgentError ? signal.reason : err;
      this.tick(j);
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
      await this.persist(j);
      this.events.onFinished?.(this.view(j));
    }
  }

  private async transferAndCommit(j: Job, dest: AgentClient): Promise<void> {
    const s = j.status;
    const req = j.request;
    const signal = j.abort.signal;
    const session = s.id;
    const destVolume = s.destination.volume;
    const manifest = this.snapshots.manifest(req.volume, s.snapshotId as string);
    const full = s.kind === 'full';

    await this.setPhase(j, 'planning');
    const standby = await dest.findStandby(destVolume);
    if (standby?.current === manifest.id) {
      s.restorePoint = manifest.id;
      return;
    }
    const base = !full && standby?.current ? this.snapshots.manifestById(standby.current) : undefined;
    // Incremental: only chunks of files whose chunk list differs from the base's can be missing;
    // an unchanged or metadata-only snapshot asks nothing and builds no chunk sets.
    const unique = base ? changedChunks(base, manifest) : manifestChunks(manifest);
    s.chunksTotal = base ? (s.snapshot?.uniqueChunks ?? unique.size) : unique.size;
    const known = new Set<string>();
    if (base && unique.size > 0) for (const h of manifestChunks(base).keys()) known.add(h);
    const delivered = j.delivered;
    const ask = [...unique.keys()].filter((h) => !known.has(h) && !delivered?.has(h));
    const missing: string[] = [];
    for (let i = 0; i < ask.length; i += HAVE_BATCH) {
      const batch = ask.slice(i, i + HAVE_BATCH);
      const bufs = batch.map((h) => Buffer.from(h, 'hex'));
      s.bytesOnWire += bufs.length * 32;
      const present = await dest.hasChunks(bufs, { verify: full, session, signal });
      present.forEach((p, k) => {
        if (!p) missing.push(batch[k] as string);
      });
    }
    const missingBytes = missing.reduce((a, h) => a + (unique.get(h) ?? 0), 0);
    // A retry re-plans: keep the first plan's total and count what arrived meanwhile as done
    // (including chunks of an upload that failed half-way).
    if (!j.planned) {
      j.planned = true;
      s.bytesTotal = s.bytesDone + missingBytes; // bytesDone: streamed during the snapshot
    } else if (missingBytes <= s.bytesTotal - s.bytesDone) {
      s.bytesDone = s.bytesTotal - missingBytes;
    } else {
      s.bytesTotal = s.bytesDone + missingBytes;
    }
    s.chunksSkipped = s.chunksTotal - missing.length - s.chunksSent;
    if (s.chunksSkipped < 0) s.chunksSkipped = 0;

    await this.setPhase(j, 'transferring');
    j.transferStartedAt ??= Date.now();
    const deltas = base ? planDeltas(manifest, base, new Set(missing)) : new Map<string, DeltaCandidate>();
    const needWhole = await this.push.sendChunks(j, dest, missing, unique, session, deltas);
    if (needWhole.length > 0) await this.push.sendChunks(j, dest, needWhole, unique, session);

    await this.setPhase(j, 'committing');
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
        await this.setPhase(j, 'transferring');
        await this.push.sendChunks(j, dest, extra, all, session);
        await this.setPhase(j, 'committing');
      }
    }
  }
}

/** Chunks (hash → length) of the files of `next` whose chunk list differs from the same path's in `base`. */
function changedChunks(base: Manifest, next: Manifest): Map<string, number> {
  const before = new Map<string, ChunkRef[]>();
  for (const e of base.entries) if (e.type === 'file') before.set(e.path, e.chunks);
  const out = new Map<string, number>();
  for (const e of next.entries) {
    if (e.type !== 'file') continue;
    const b = before.get(e.path);
    if (b && sameChunkList(b, e.chunks)) continue;
    for (const [h, n] of e.chunks) out.set(h, n);
  }
  return out;
}

function sameChunkList(a: ChunkRef[], b: ChunkRef[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] as ChunkRef)[0] !== (b[i] as ChunkRef)[0]) return false;
  return true;
}

function validateRequest(req: ReplicationRequest): void {
  if (typeof req !== 'object' || req === null) throw badRequest('replication request must be a JSON object');
  if (!isVolumeName(req.volume))
    throw badRequest(`volume ${JSON.stringify(req.volume)}: not a valid volume name`);
  if (req.id !== undefined && !isSnapshotId(req.id))
    throw badRequest(`id ${JSON.stringify(req.id)}: must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  const d = req.destination;
  if (typeof d !== 'object' || d === null)
    throw badRequest('destination: required ({url, token, caCertPem?, volume?})');
  let u: URL;
  try {
    u = new URL(d.url);
  } catch {
    throw badRequest(`destination.url ${JSON.stringify(d.url)}: not a URL`);
  }
  if (u.protocol !== 'https:') throw badRequest(`destination.url ${JSON.stringify(d.url)}: must be https`);
  if (typeof d.token !== 'string' || d.token.length === 0) throw badRequest('destination.token: required');
  if (d.caCertPem !== undefined && typeof d.caCertPem !== 'string')
    throw badRequest('destination.caCertPem: must be a PEM string');
  if (d.volume !== undefined && !isVolumeName(d.volume))
    throw badRequest(`destination.volume ${JSON.stringify(d.volume)}: not a valid volume name`);
  if (req.snapshotId !== undefined && !isSnapshotId(req.snapshotId))
    throw badRequest(`snapshotId ${JSON.stringify(req.snapshotId)}: not a snapshot id`);
  if (req.full !== undefined && typeof req.full !== 'boolean') throw badRequest('full: must be a boolean');
  if (req.mode !== undefined && typeof req.mode !== 'string') throw badRequest('mode: must be a string');
  if (req.retain !== undefined && !(Number.isInteger(req.retain) && req.retain >= 1 && req.retain <= 1000)) {
    throw badRequest(`retain ${JSON.stringify(req.retain)}: must be an integer in 1..1000`);
  }
  if (
    req.concurrency !== undefined &&
    !(Number.isInteger(req.concurrency) && req.concurrency >= 1 && req.concurrency <= 16)
  ) {
    throw badRequest(`concurrency ${JSON.stringify(req.concurrency)}: must be an integer in 1..16`);
  }
}

function toReplicationError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (err instanceof AgentError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof AgentApiError)
    return { code: err.code, message: `destination: ${err.message}`, retryable: err.retryable };
  if (isRetryable(err)) return { code: 'unavailable', message: (err as Error).message, retryable: true };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err), retryable: false };
}
