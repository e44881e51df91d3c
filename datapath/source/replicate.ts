// Source side of replication: the replications a source agent runs (POST/GET/DELETE
// /v1/replications). ReplicationManager starts, lists, cancels and keeps them; what one
// replication does, stage by stage, is in replication-run.ts, and what it persists in
// replication-records.ts.
//
// A failed or cancelled replication, including one a restart interrupted, resumes when it is
// started again under the same id (reusing its snapshot) or with the same snapshotId: content
// addressing lets the new attempt skip the chunks already delivered.
import {
  hasEnded,
  type DestinationCheck,
  type ReplicationPhase,
  type ReplicationRequest,
  type ReplicationStatus,
} from '../protocol/agent-api.js';
import { AgentClient } from '../client/client.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { AgentError, notFound } from '../errors.js';
import { newId } from '../fs-util.js';
import { chooseKind, confirm, keptJob, newJob, nextChange, view, type Job } from './replication-job.js';
import { ReplicationRecords } from './replication-records.js';
import { validateRequest } from './replication-request.js';
import { ReplicationRunner, type ReplicationEvents } from './replication-run.js';
import type { SnapshotManager } from './volumes.js';

export type { ReplicationEvents } from './replication-run.js';

const MAX_KEPT = 500;

export class ReplicationManager {
  private readonly jobs = new Map<string, Job>();
  private readonly runner: ReplicationRunner;

  private constructor(
    store: ChunkStore,
    private readonly snapshots: SnapshotManager,
    events: ReplicationEvents,
    private readonly records: ReplicationRecords,
  ) {
    this.runner = new ReplicationRunner(store, snapshots, events, records);
  }

  static async open(
    root: string,
    store: ChunkStore,
    snapshots: SnapshotManager,
    events: ReplicationEvents = {},
  ): Promise<ReplicationManager> {
    const { records, statuses } = await ReplicationRecords.open(root, (file, err) =>
      events.log?.('writing a replication record failed', { file, error: (err as Error).message }),
    );
    const m = new ReplicationManager(store, snapshots, events, records);
    for (const status of statuses) m.jobs.set(status.id, keptJob(status));
    return m;
  }

  /** How long a replication keeps retrying without progress before it fails. */
  get retryWindowMs(): number {
    return this.runner.retryWindowMs;
  }

  set retryWindowMs(ms: number) {
    this.runner.retryWindowMs = ms;
  }

  /** How long a replication requested with awaitConfirm waits for its confirmation. */
  get confirmWindowMs(): number {
    return this.runner.confirmWindowMs;
  }

  set confirmWindowMs(ms: number) {
    this.runner.confirmWindowMs = ms;
  }

  /** Replications ended since the agent started, by how they ended. */
  get results(): { succeeded: number; failed: number; cancelled: number } {
    return this.runner.results;
  }

  list(): ReplicationStatus[] {
    return [...this.jobs.values()].map((j) => view(j)).sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
  }

  get(id: string): ReplicationStatus {
    return view(this.job(id));
  }

  /**
   * The status once the replication's phase is other than `phase` (at once when it is already),
   * or after `waitMs`. Why: a caller waiting for the end learns of it when it happens, not at its
   * next poll (a Migration's activity polled every 500 ms; most incremental replications of a
   * small change take less).
   */
  async getAfter(id: string, phase: ReplicationPhase, waitMs: number): Promise<ReplicationStatus> {
    const j = this.job(id);
    if (j.status.phase === phase && !hasEnded(phase)) await nextChange(j, waitMs);
    return view(j);
  }

  /**
   * Asks replication `id`'s destination agent about its standby volume, as that replication
   * reaches it (its URL, token and CA), within `timeoutMs`. Never throws for the destination's
   * sake: an unreachable one is `reachable: false` with the reason.
   */
  async askDestination(id: string, timeoutMs: number): Promise<DestinationCheck> {
    const { request, status } = this.job(id);
    const client = new AgentClient(request.destination, { maxSockets: 1, timeoutMs });
    const late = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      t.unref();
    });
    try {
      return {
        reachable: true,
        standby: await Promise.race([client.findStandby(status.destination.volume), late]),
      };
    } catch (err) {
      return { reachable: false, standby: null, error: err instanceof Error ? err.message : String(err) };
    } finally {
      client.close();
    }
  }

  private job(id: string): Job {
    const j = this.jobs.get(id);
    if (!j) throw notFound(`replication ${id} not found`);
    return j;
  }

  /**
   * Starts (or, for a known id, returns or resumes) a replication. Posting the id of one that awaits
   * confirmation without `awaitConfirm` confirms it.
   */
  start(req: ReplicationRequest): ReplicationStatus {
    validateRequest(req);
    const existing = req.id ? this.jobs.get(req.id) : undefined;
    if (existing) {
      if (existing.status.phase !== 'failed' && existing.status.phase !== 'cancelled') {
        if (!req.awaitConfirm) confirm(existing);
        return view(existing);
      }
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
    const previous = this.records.previous(req.volume, req.destination);
    const kind = chooseKind(req, kindOverride, previous);
    const snapshot = req.snapshotId ? this.snapshots.get(req.volume, req.snapshotId) : null;
    const job = newJob(id, req, attempt, kind, previous, snapshot);
    this.jobs.set(id, job);
    job.done = this.runner.run(job);
    this.trim();
    return view(job);
  }

  cancel(id: string): ReplicationStatus {
    const j = this.job(id);
    if (!hasEnded(j.status.phase))
      j.abort.abort(new AgentError(499, 'cancelled', 'replication cancelled', false));
    return view(j);
  }

  /** Waits for every running replication to stop (after cancelling them). */
  async shutdown(): Promise<void> {
    for (const j of this.jobs.values())
      if (!hasEnded(j.status.phase))
        j.abort.abort(new AgentError(503, 'unavailable', 'agent shutting down', true));
    await Promise.allSettled([...this.jobs.values()].map((j) => j.done));
    await this.runner.compacted();
    await this.records.flush();
  }

  private trim(): void {
    const terminal = [...this.jobs.values()].filter((j) => hasEnded(j.status.phase));
    for (const j of terminal.slice(0, Math.max(0, terminal.length - MAX_KEPT))) {
      this.jobs.delete(j.status.id);
      this.records.remove(j.status.id);
    }
  }
}
