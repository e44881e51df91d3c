// One replication as the source agent tracks it: its status (what GET /v1/replications/:id
// answers), the request it runs, and the clocks behind its numbers. The destination token is held
// in memory only, in the request: it is never logged, persisted, or returned.
//
// Progress: bytesTotal/bytesDone count raw bytes of the chunks that must move; rate is bytesDone
// over transfer time; ETA = remaining / rate. timings add up the time spent in each phase.
import {
  hasEnded,
  type ReplicationRequest,
  type ReplicationStatus,
  type SnapshotSummary,
} from '../protocol/agent-api.js';
import { replicationKind } from '../protocol/mode.js';
import type { PrepareHints } from './prepare-hints.js';
import type { PushJob } from './push.js';

export interface Job extends PushJob {
  done: Promise<void>;
  transferStartedAt: number | null;
  planned?: boolean;
  /** The destination refused a manifest delta (unknown base): send whole manifests. */
  noManifestDelta?: boolean;
  phaseStartedAt?: number;
  /** Large files named to the destination for copying ahead of the commit (prepare-hints.ts). */
  hints?: PrepareHints;
  /** Those waiting for the phase to change (nextChange). */
  watchers?: Set<() => void>;
  /** Requested with awaitConfirm: whether the confirmation has come (confirm). */
  confirmed?: boolean;
  /** Wakes the run while it waits for the confirmation. */
  onConfirm?: () => void;
}

type Kind = 'full' | 'incremental';

/**
 * Full or incremental, and why: as the request says, else as the failed attempt it resumes was,
 * else by its mode and the `previous` replications that succeeded (mode.ts).
 */
export function chooseKind(
  req: ReplicationRequest,
  kindOverride: Kind | null,
  previous: number,
): { kind: Kind; kindReason: string } {
  if (req.full !== undefined) return { kind: req.full ? 'full' : 'incremental', kindReason: 'explicit' };
  if (kindOverride) return { kind: kindOverride, kindReason: 'resumed attempt' };
  return {
    kind: replicationKind(req.mode, previous),
    kindReason:
      req.mode === 'DisasterRecovery' ? 'mode DisasterRecovery' : `every 7th is full (previous ${previous})`,
  };
}

/** A new job, pending, for attempt `attempt` of request `req` under `id`. */
export function newJob(
  id: string,
  req: ReplicationRequest,
  attempt: number,
  kind: { kind: Kind; kindReason: string },
  previous: number,
  snapshot: SnapshotSummary | null,
): Job {
  const status: ReplicationStatus = {
    id,
    volume: req.volume,
    destination: { url: req.destination.url, volume: req.destination.volume ?? req.volume },
    kind: kind.kind,
    kindReason: kind.kindReason,
    previous,
    snapshotId: req.snapshotId ?? null,
    snapshot,
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
  return {
    status,
    request: req,
    abort: new AbortController(),
    done: Promise.resolve(),
    transferStartedAt: null,
    lastProgressAt: Date.now(),
  };
}

/** The job of a status kept from before a restart (it has no destination token: it cannot run). */
export function keptJob(status: ReplicationStatus): Job {
  return {
    status,
    request: { volume: status.volume, destination: { url: status.destination.url, token: '' } },
    abort: new AbortController(),
    done: Promise.resolve(),
    transferStartedAt: null,
    lastProgressAt: 0,
  };
}

/** The status as answered: rate and ETA brought up to now, a copy. */
export function view(j: Job): ReplicationStatus {
  const s = j.status;
  const now = Date.now();
  if (j.transferStartedAt && !hasEnded(s.phase)) {
    const secs = (now - j.transferStartedAt) / 1000;
    s.rateBytesPerSec = secs > 0 ? Math.round(s.bytesDone / secs) : 0;
    s.etaSeconds =
      s.rateBytesPerSec > 0 ? Math.max(0, (s.bytesTotal - s.bytesDone) / s.rateBytesPerSec) : null;
  }
  return { ...s, destination: { ...s.destination } };
}

/** Lets a replication requested with awaitConfirm commit: at once if it waits, else when it gets there. */
export function confirm(j: Job): void {
  j.confirmed = true;
  j.onConfirm?.();
}

/** Wakes those waiting for `j`'s phase to change (nextChange). */
export function phaseChanged(j: Job): void {
  for (const wake of [...(j.watchers ?? [])]) wake();
}

/**
 * Resolves once `j`'s phase changes or it ends (the runner calls phaseChanged for both), or after
 * `ms`, whichever comes first. Nothing of the wait stays attached to `j` once it resolves: a
 * Migration asks every half second for hours.
 */
export function nextChange(j: Job, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      j.watchers?.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    (j.watchers ??= new Set()).add(wake);
  });
}

/** Adds the time since the last phase change to the phase that was running. */
export function tick(j: Job): void {
  const now = Date.now();
  const t = j.status.timings;
  const dt = now - (j.phaseStartedAt ?? now);
  j.phaseStartedAt = now;
  if (j.status.phase === 'snapshotting') t.snapshotMs += dt;
  else if (j.status.phase === 'planning') t.planMs += dt;
  else if (j.status.phase === 'transferring') t.transferMs += dt;
  else if (j.status.phase === 'committing') t.commitMs += dt;
}
