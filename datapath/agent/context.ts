// What route handlers can reach inside a running agent.
import type { AgentInfo } from '../agent-api.js';
import type { ChunkStore, Pin } from '../chunk-store.js';
import type { Limits } from '../limits.js';
import type { ReplicationManager } from '../replicate.js';
import type { StandbyManager } from '../standby.js';
import type { SnapshotManager } from '../volumes.js';
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
