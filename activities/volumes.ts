// Volume activities over the storage agents. Data never passes through here: the source agent
// snapshots and pushes chunks straight to the destination agent; these activities start that,
// heartbeat its progress and report the result.
//
// A volume's replication id is derived from the workflow run and the volume: the snapshot step
// starts the replication under it (awaiting confirmation) and the transfer step posts it again,
// and a retried activity (a worker killed mid-transfer) re-posts the same id, so the agent resumes
// that replication instead of starting over. Cancelling the activity cancels the replication; the
// destination then stays on its last whole restore point.
//
// A transfer whose data stops moving (transfer-progress.ts) for the worker's stall time is
// cancelled on the agents and fails for good, naming the destination agent: a stuck migration
// must end and free its schedule, whose next migration resumes from the chunks already sent.
import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  hasEnded,
  hasFeature,
  type ReplicationRequest,
  type ReplicationStatus,
} from '../datapath/protocol/agent-api.js';
import { AgentApiError, AgentClient } from '../datapath/client/client.js';
import type { ActivityDeps } from './deps.js';
import { loadClusterPair } from './cluster-pair.js';
import { fail } from './errors.js';
import {
  COMMIT_ASK_MS,
  CommitWatch,
  type CommitStall,
  commitStallMessage,
  DEFAULT_TRANSFER_STALL_MS,
  ProgressWatch,
} from './transfer-progress.js';
import {
  NON_RETRYABLE,
  type SnapshotInput,
  type SnapshotResult,
  type StopTransfersInput,
  type TransferInput,
  type TransferResult,
} from './types.js';

const POLL_MS = 500;

/**
 * Snapshots every volume at once, so they are as close to one point in time as the agent allows.
 *
 * With the ClusterPair the snapshots are for, each is taken by a replication to the pair's agent
 * that awaits confirmation (ReplicationRequest.awaitConfirm), under the id the transfer step will
 * post (replicationId): the data moves as soon as the snapshot is taken, during the post-exec rule
 * and the workflow's next steps, but the standby switches only once transferVolume posts the id,
 * which confirms it. The step returns as soon as each snapshot is taken and sends nothing while
 * the snapshots read (streamDuringSnapshot false, which says why), so the window in which their
 * files are read, and a pre-exec rule keeps the application quiesced, is the snapshots' own time.
 * A Migration that fails or is cancelled before its transfer step never confirms: its
 * replications are cancelled here when this step fails, by the workflow's stopTransfers when it
 * ends later, and otherwise by the agent after its confirm window.
 *
 * Without a pair (or one that names no agent, or cannot be read), or with a source agent older
 * than awaitConfirm (which would ignore it and commit before the transfer step), the snapshots are
 * plain ones, which the transfer step then replicates.
 */
export async function snapshotVolumes(deps: ActivityDeps, input: SnapshotInput): Promise<SnapshotResult> {
  const agent = new AgentClient(deps.agent);
  const pair =
    input.clusterPair && input.migration
      ? await loadClusterPair(deps, { namespace: input.migration.namespace, name: input.clusterPair }).catch(
          () => null,
        )
      : null;
  const started: string[] = [];
  try {
    const destination =
      pair?.destination && hasFeature(await agent.info(), 'awaitConfirm') ? pair.destination : null;
    const taken = await Promise.all(
      input.volumes.map(async (v) => {
        try {
          if (!destination || !pair) return [v, (await agent.createSnapshot(v)).id] as const;
          const id = runReplicationId(v);
          started.push(id);
          const req = { id, volume: v, destination: { ...destination, volume: v }, mode: pair.mode };
          return [
            v,
            await snapshotOf(agent, { ...req, streamDuringSnapshot: false, awaitConfirm: true }),
          ] as const;
        } catch (err) {
          if (err instanceof AgentApiError && !err.retryable)
            fail(NON_RETRYABLE.volume, `volume ${v}: snapshot failed: ${err.message}`);
          throw err;
        }
      }),
    );
    return { snapshots: Object.fromEntries(taken) };
  } catch (err) {
    // A retry posts the same ids and resumes them; a Migration that ends here must not leave
    // them sending until their confirm window ends.
    await Promise.all(started.map((id) => stopReplication(agent, id)));
    throw err;
  } finally {
    agent.close();
  }
}

/** Starts a replication that takes a snapshot, and answers that snapshot's id once it is taken. */
async function snapshotOf(agent: AgentClient, req: ReplicationRequest): Promise<string> {
  const ctx = Context.current();
  let status = await agent.startReplication(req);
  while (!status.snapshotId) {
    if (hasEnded(status.phase)) {
      const message = `volume ${req.volume}: snapshot failed: ${status.error?.message ?? `replication ${status.phase}`}`;
      if (!status.error?.retryable) fail(NON_RETRYABLE.volume, message);
      throw new Error(message);
    }
    // answered when the phase changes: the snapshot's end is one
    const next = agent.nextStatus(status.id, status.phase, POLL_MS, { sleep: (ms) => ctx.sleep(ms) });
    status = await Promise.race([next, ctx.cancelled]);
  }
  return status.snapshotId;
}

const CANCEL_WAIT_MS = 30_000;

/** Cancels replication `id` and waits (beating: the activity may wait long) for it to end. */
async function stopReplication(source: AgentClient, id: string): Promise<void> {
  const ctx = Context.current();
  try {
    let status = await source.cancelReplication(id);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (!hasEnded(status.phase) && Date.now() < deadline) {
      ctx.heartbeat();
      await new Promise((r) => setTimeout(r, 100));
      status = await source.getReplication(id);
    }
  } catch {
    // The agent is unreachable: its replication cannot commit without it either.
  }
}

/** Cancels this workflow run's replications of `volumes` on the source agent (MigrationActivities). */
export async function stopTransfers(deps: ActivityDeps, input: StopTransfersInput): Promise<void> {
  const agent = new AgentClient(deps.agent);
  try {
    await Promise.all(input.volumes.map((v) => stopReplication(agent, runReplicationId(v))));
  } finally {
    agent.close();
  }
}

export function replicationId(workflowId: string, runId: string, volume: string): string {
  return `m-${createHash('sha256').update(`${workflowId}\n${runId}\n${volume}`).digest('hex').slice(0, 40)}`;
}

/** The replication id of `volume` for the workflow run of the activity calling it. */
function runReplicationId(volume: string): string {
  const run = Context.current().info.workflowExecution;
  return replicationId(run?.workflowId ?? '', run?.runId ?? '', volume);
}

export async function transferVolume(deps: ActivityDeps, input: TransferInput): Promise<TransferResult> {
  const ctx = Context.current();
  const id = runReplicationId(input.volume);
  const pair = await loadClusterPair(
    deps,
    { namespace: input.migration.namespace, name: input.clusterPair },
    ctx.cancellationSignal,
  );
  if (!pair.destination)
    fail(
      NON_RETRYABLE.clusterPair,
      `ClusterPair ${input.migration.namespace}/${input.clusterPair} names no storage agent (spec.options.ip and token): volumes cannot be migrated`,
    );
  const destination = new AgentClient(pair.destination, { timeoutMs: 15_000 });
  const source = new AgentClient(deps.agent);
  const started = Date.now();
  try {
    // Asked before the destination: its data may be moving already (the snapshot step started
    // it), and a destination frozen meanwhile must meet the stall watch below, not a call without
    // heartbeats that Temporal retries (edges.test.ts "a stuck transfer").
    let status: ReplicationStatus = await source.startReplication({
      id,
      volume: input.volume,
      snapshotId: input.snapshotId,
      mode: pair.mode,
      destination: { ...pair.destination, volume: input.volume },
    });
    const stallMs = deps.transferStallMs ?? DEFAULT_TRANSFER_STALL_MS;
    const watch = new ProgressWatch(Date.now());
    const commitWatch = new CommitWatch(destination, input.volume, stallMs, async () => {
      const check = await source.askDestination(id, COMMIT_ASK_MS - 1_000);
      if (!check.reachable) throw new Error(check.error ?? 'unreachable');
      return check.standby;
    });
    let stalledMs = 0;
    let stuck: CommitStall | null = null;
    try {
      while (!hasEnded(status.phase)) {
        ctx.heartbeat({
          id,
          volume: input.volume,
          phase: status.phase,
          bytesDone: status.bytesDone,
          bytesTotal: status.bytesTotal,
        });
        // Answered when the phase changes (the end included), else after POLL_MS.
        const next = source.nextStatus(id, status.phase, POLL_MS, { sleep: (ms) => ctx.sleep(ms) });
        status = await Promise.race([next, ctx.cancelled]);
        stalledMs = watch.observe(status, Date.now());
        if (stalledMs >= stallMs) break;
        stuck = await Promise.race([commitWatch.observe(status, Date.now()), ctx.cancelled]);
        if (stuck) break;
      }
    } catch (err) {
      // Cancelled (or the worker is shutting down): stop the agents' transfer too, and report
      // only once it has stopped, so the workflow never ends while a transfer still runs.
      await stopReplication(source, id);
      throw err;
    }
    if (stalledMs >= stallMs) {
      await stopReplication(source, id);
      fail(
        NON_RETRYABLE.volume,
        `volume ${input.volume}: transfer stalled: the destination agent ${pair.destination.url} accepted no data for ${Math.round(stalledMs / 1000)} s (${status.bytesDone} of ${status.bytesTotal} bytes sent); the next migration resumes from the chunks it holds`,
      );
    }
    if (stuck) {
      await stopReplication(source, id);
      fail(NON_RETRYABLE.volume, commitStallMessage(input.volume, pair.destination.url, stuck));
    }
    if (status.phase !== 'succeeded') {
      const message = `volume ${input.volume}: replication ${status.phase}: ${status.error?.message ?? 'no reason given'}`;
      if (status.error && !status.error.retryable) fail(NON_RETRYABLE.volume, message);
      throw new Error(message);
    }
    const standbyRoot = (await destination.info()).dataRoot;
    const result: TransferResult = {
      volume: input.volume,
      kind: status.kind,
      bytesTotal: status.bytesTotal,
      bytesDone: status.bytesDone,
      bytesOnWire: status.bytesOnWire,
      restorePoint: status.restorePoint ?? '',
      standbyPath: path.join(standbyRoot, 'volumes', input.volume),
    };
    // The agent's own duration covers a replication this attempt resumed, not just its part.
    deps.observer?.transferFinished(result, (status.durationMs ?? Date.now() - started) / 1000);
    return result;
  } finally {
    source.close();
    destination.close();
  }
}
