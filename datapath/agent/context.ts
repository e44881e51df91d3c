// What route handlers can reach inside a running agent.
import type { AgentInfo } from '../protocol/agent-api.js';
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import type { Limits } from '../protocol/limits.js';
import type { ReplicationManager } from '../source/replicate.js';
import type { StandbyManager } from '../destination/standby.js';
import type { SnapshotManager } from '../source/volumes.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface AgentContext {
  store: ChunkStore;
  snapshots: SnapshotManager;
  standby: StandbyManager;
  replications: ReplicationManager;
  metrics: Metrics;
  limits: Limits;
  log: Logger;
  info(): AgentInfo;
  /** The pin of upload session `id`, created on first use. */
  session(id: string): Pin;
  endSession(id: string): void;
  onChunkReceived(storedBytes: number, wasNew: boolean): void;
}
