// When a volume transfer counts as stuck. The transfer activity heartbeats while it polls the
// source agent, so Temporal's heartbeat timeout catches a dead worker or a hung source agent,
// but not a transfer whose processes are all alive and whose data does not move (a frozen or
// full-buffered destination agent, a black-holed link): the source agent answers "transferring"
// forever. So the activity also watches the agent's counters: while the phase is `transferring`,
// any change of bytes or chunks sent (or skipped) is progress; a phase change restarts the
// clock. Other phases (snapshotting, planning, committing) do their work inside one agent and
// report no finer progress, so they never count as stalled here.
import type { ReplicationStatus } from '../datapath/protocol/agent-api.js';

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
