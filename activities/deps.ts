// What every activity of a worker shares: the cluster it protects, that cluster's agent, and
// whoever counts what the activities see (the worker's Prometheus metrics).
import type { MigrationStatus } from '../api/index.js';
import type { AgentEndpoint } from '../datapath/client/client.js';
import type { KubeClient } from '../kube/client.js';
import type { TransferResult } from './types.js';

export interface ActivityDeps {
  /** The cluster the worker protects (migrations' source). */
  source: KubeClient;
  /** The source cluster's storage agent. */
  agent: AgentEndpoint;
  /**
   * How long a volume transfer may move no byte before it fails (activities/stall.ts); default
   * DEFAULT_TRANSFER_STALL_MS.
   */
  transferStallMs?: number;
  /** Told of facts worth counting, once each has been written out; optional. */
  observer?: ActivityObserver;
}

/** A migration whose final status (Successful, PartialSuccess or Failed) was published. */
export interface FinishedMigration {
  /** The workflow run that published it: the same run publishing again is the same migration. */
  key: string;
  namespace: string;
  name: string;
  /** The MigrationSchedule that made it, or '' for a migration applied on its own. */
  schedule: string;
  status: MigrationStatus;
  /** The CR's metadata.creationTimestamp, when its CR exists. */
  creationTimestamp?: string;
}

export interface ActivityObserver {
  migrationFinished(m: FinishedMigration): void;
  /** A transfer that succeeded, and how long the agents took for it. */
  transferFinished(t: TransferResult, seconds: number): void;
  /** `count` triggers of a schedule skipped (a migration of it still ran). */
  triggersSkipped(schedule: { namespace: string; name: string }, count: number): void;
}
