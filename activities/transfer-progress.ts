// When a volume transfer counts as stuck. The transfer activity heartbeats while it polls the
// source agent, so Temporal's heartbeat timeout catches a dead worker or a hung source agent,
// but not a transfer whose processes are all alive and whose data does not move (a frozen or
// full-buffered destination agent, a black-holed link): the source agent answers "transferring"
// forever. So the activity also watches the agent's counters: while the phase is `transferring`,
// any change of bytes or chunks sent (or skipped) is progress; a phase change restarts the
// clock. Other phases (snapshotting, planning, committing) do their work inside one agent and
// report no finer progress, so they never count as stalled here; a commit is watched instead by
// asking the destination what it waits for (CommitWatch).
import {
  VOLUME_LOCK_WAIT,
  type ReplicationStatus,
  type StandbyInfo,
} from '../datapath/protocol/agent-api.js';

/** How long a transfer may move nothing before it fails (the worker's --transfer-stall-seconds). */
export const DEFAULT_TRANSFER_STALL_MS = 300_000;

export type ProgressCounters = Pick<
  ReplicationStatus,
  'phase' | 'bytesDone' | 'bytesOnWire' | 'chunksSent' | 'chunksSkipped'
>;

export class ProgressWatch {
  private key = '';
  private since: number;

  constructor(now: number) {
    this.since = now;
  }

  /** Records a poll of the replication; returns how long (ms) it has made no progress. */
  observe(s: ProgressCounters, now: number): number {
    const key = `${s.phase} ${s.bytesDone} ${s.bytesOnWire} ${s.chunksSent} ${s.chunksSkipped}`;
    if (key !== this.key || s.phase !== 'transferring') {
      this.key = key;
      this.since = now;
    }
    return now - this.since;
  }
}

/** The part of a destination's commits under way that the stall check reads (CommitProgress). */
export interface CommitUnderWay {
  restorePoint: string;
  waitingFor: string | null;
  waitedMs: number;
}

/**
 * A commit of restore point `restorePoint` that is stuck: it, or the commit ahead of it on the
 * same volume, has waited `stallMs` or more on one thing (the destination agent's
 * GET /v1/standby/:v `committing`, destination/commit-waits.ts). Waiting for the volume lock is
 * not itself a stall: the commit holding the lock may be working (writing a large tree), which is
 * progress; it is a stall when that commit is the one waiting. Returns the stuck wait, or null.
 */
export function stalledCommit(
  committing: readonly CommitUnderWay[],
  restorePoint: string,
  stallMs: number,
): CommitUnderWay | null {
  const mine = committing.findIndex((c) => c.restorePoint === restorePoint);
  if (mine < 0) return null;
  // ours and those queued ahead of it (oldest first): any of them stuck on something not the lock
  for (const c of committing.slice(0, mine + 1))
    if (c.waitingFor !== null && c.waitingFor !== VOLUME_LOCK_WAIT && c.waitedMs >= stallMs) return c;
  return null;
}

/** How often, once a commit has run this long, the activity asks the destination what it waits for. */
export const COMMIT_CHECK_MS = 30_000;
/** How long the activity waits for the destination's answer (the transfer heartbeats every 15 s). */
export const COMMIT_ASK_MS = 5_000;

/** What CommitWatch found: a commit stuck on one thing, or a destination that stopped answering. */
export type CommitStall =
  { kind: 'waiting'; commit: CommitUnderWay } | { kind: 'silent'; restorePoint: string; silentMs: number };

/**
 * Watches the destination's commit of a replication: once the source has been in phase
 * `committing` for COMMIT_CHECK_MS, asks the destination agent every COMMIT_CHECK_MS what its
 * commits of the volume wait for (GET /v1/standby/:v `committing`) and reports one stuck for
 * `stallMs` (stalledCommit), or a destination that has answered none of these questions for
 * `stallMs` of committing. Why: a commit is one request that reports no progress, and one
 * waiting for ever (a deadlock, seen twice: see datapath/destination/standby.ts recycleOrCopy
 * and build.ts settle) held its Migration, and so its schedule, for ever; a frozen destination
 * agent (SIGSTOP, a hung host: the kernel still accepts the connection) held it for the commit
 * request's hour. A question that fails or goes unanswered is not itself a stall.
 *
 * Each question goes two ways at once, straight to the destination and through the source agent
 * (`relay`, GET /v1/replications/:id/destination), and the first answer counts: a worker cut off
 * from the destination while the source agent still reaches it (and the commit goes on) does not
 * take the destination for silent.
 */
export class CommitWatch {
  private since: number | null = null;
  private asked = 0;
  /** When the destination last answered a question (or the commit began). */
  private heard = 0;

  constructor(
    private readonly destination: { findStandby(volume: string): Promise<StandbyInfo | null> },
    private readonly volume: string,
    private readonly stallMs: number,
    /** The same question through the source agent (rejects when that agent cannot reach it). */
    private readonly relay?: () => Promise<StandbyInfo | null>,
  ) {}

  async observe(s: ReplicationStatus, now: number): Promise<CommitStall | null> {
    if (s.phase !== 'committing' || !s.snapshotId) {
      this.since = null;
      return null;
    }
    if (this.since === null) this.since = this.heard = now;
    if (now - this.since < COMMIT_CHECK_MS || now - this.asked < COMMIT_CHECK_MS) return null;
    this.asked = now;
    // Bounded well inside the transfer's 15 s heartbeat timeout: the activity heartbeats between
    // questions. A destination too slow to answer counts as silent, a stall once silent stallMs.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), COMMIT_ASK_MS)));
    const asks = [this.destination.findStandby(this.volume), ...(this.relay ? [this.relay()] : [])];
    const info = await Promise.race([Promise.any(asks).catch(() => undefined), late]);
    clearTimeout(timer);
    if (info === undefined) {
      const silentMs = now - this.heard;
      return silentMs >= this.stallMs ? { kind: 'silent', restorePoint: s.snapshotId, silentMs } : null;
    }
    this.heard = now;
    const commit = stalledCommit(info?.committing ?? [], s.snapshotId, this.stallMs);
    return commit ? { kind: 'waiting', commit } : null;
  }
}

/** The Migration's failure reason for a stalled commit of `volume` at the destination agent `url`. */
export function commitStallMessage(volume: string, url: string, stall: CommitStall): string {
  const after = 'the standby keeps its current restore point; restart that agent if this repeats';
  if (stall.kind === 'waiting') {
    const c = stall.commit;
    return `volume ${volume}: commit stalled: the destination agent ${url} has waited ${Math.round(c.waitedMs / 1000)} s for ${c.waitingFor} while committing restore point ${c.restorePoint}; ${after}`;
  }
  return `volume ${volume}: commit stalled: the destination agent ${url} has answered neither the worker nor the source agent for ${Math.round(stall.silentMs / 1000)} s while committing restore point ${stall.restorePoint} (frozen, or its host overloaded or cut off); ${after}, unless that commit still completes`;
}
