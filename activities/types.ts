// The activities' contract with the workflows: inputs and results only, no implementation, so
// workflow code can import it (eslint allows workflows this one file of activities/).
// Inputs carry names and references, never credentials: kubeconfigs and tokens are read inside
// the activities from the ClusterPair, so no secret is ever written to a workflow history.
import type {
  MigrationResourceInfo,
  MigrationScheduleSpec,
  MigrationScheduleStatus,
  MigrationSpec,
  MigrationStatus,
  SchedulePolicyItem,
} from '../api/index.js';

export interface ObjectRef {
  namespace: string;
  name: string;
}

export interface PrepareMigrationInput extends ObjectRef {
  /** Given when the migration is started without a CR (SDK, temporal CLI): the CR is created. */
  spec?: unknown;
  /** Labels and annotations for a CR created here (a schedule's ownership marks). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PreparedMigration {
  spec: MigrationSpec;
  uid: string;
  creationTimestamp: string;
}

export interface ClusterPairCheck {
  /** ClusterPair options.mode: "DisasterRecovery" or "". */
  mode: string;
  /** Whether the pair names a storage agent (options.ip and token). */
  storage: boolean;
  /** kube-apiserver version of the standby. */
  standbyVersion: string;
}

export interface PlanInput extends ObjectRef {
  spec: MigrationSpec;
}

export interface PlannedVolume {
  namespace: string;
  pvc: string;
  pv?: string;
  volume?: string;
  error?: string;
}

export interface MigrationPlan {
  /** Namespaces migrated: `namespaces` (minus missing ones when skipDeletedNamespaces) plus those chosen by namespaceSelectors. */
  namespaces: string[];
  /** Listed namespaces that do not exist on the source and were skipped. */
  skippedNamespaces: string[];
  volumes: PlannedVolume[];
}

export interface RuleInput {
  /** Namespace of the Rule (the migration's). */
  namespace: string;
  rule: string;
  /** Namespaces whose pods the rule's selectors pick from. */
  podNamespaces: string[];
  stage: 'PreExecRule' | 'PostExecRule';
}

export interface RuleResult {
  /** One line per command run: "<ns>/<pod>: <command>". */
  ran: string[];
}

export interface SnapshotInput {
  /** Agent volumes to snapshot. */
  volumes: string[];
  /** The Migration and its ClusterPair: the snapshots name their large changed files to its agent. */
  migration?: ObjectRef;
  clusterPair?: string;
}

export interface StopTransfersInput {
  /** Agent volumes whose replications (of this workflow run) to cancel. */
  volumes: string[];
}

export interface SnapshotResult {
  /** Agent volume -> snapshot id. */
  snapshots: Record<string, string>;
}

export interface TransferInput {
  migration: ObjectRef;
  clusterPair: string;
  volume: string;
  snapshotId: string;
}

export interface TransferResult {
  volume: string;
  kind: 'full' | 'incremental';
  bytesTotal: number;
  bytesDone: number;
  bytesOnWire: number;
  restorePoint: string;
  /** Where the standby's data is promoted on failover: the path the standby PV names. */
  standbyPath: string;
}

export interface ResourcesInput {
  migration: ObjectRef;
  spec: MigrationSpec;
  namespaces: string[];
  /** PV name -> standby path, for the volumes replicated by this migration. */
  volumePaths: Record<string, string>;
  /** `2006-01-02-150405` (UTC) */
  migrationTime: string;
}

export interface ResourcesResult {
  /**
   * Every failed and purged object, and the first 500 successful ones: a status of 10,000
   * objects would not fit a Temporal payload (2 MiB) nor an etcd object (1.5 MiB). Counts below
   * cover every object.
   */
  resources: MigrationResourceInfo[];
  /** Successful objects migrated but not listed in `resources`. */
  unlisted: number;
  /** Objects applied or found unchanged (created + updated + unchanged). */
  succeeded: number;
  created: number;
  updated: number;
  unchanged: number;
  purged: number;
  failed: number;
}

export interface KubeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface PublishInput extends ObjectRef {
  status: MigrationStatus;
  events: KubeEvent[];
}

export interface MigrationActivities {
  prepareMigration(input: PrepareMigrationInput): Promise<PreparedMigration>;
  checkClusterPair(input: ObjectRef): Promise<ClusterPairCheck>;
  planMigration(input: PlanInput): Promise<MigrationPlan>;
  runRule(input: RuleInput): Promise<RuleResult>;
  snapshotVolumes(input: SnapshotInput): Promise<SnapshotResult>;
  transferVolume(input: TransferInput): Promise<TransferResult>;
  /**
   * Cancels the replications the snapshot step started (awaiting confirmation) for `volumes`: a
   * Migration that ends before its transfer step calls it, so its data stops moving at once.
   */
  stopTransfers(input: StopTransfersInput): Promise<void>;
  migrateResources(input: ResourcesInput): Promise<ResourcesResult>;
  publishMigrationStatus(input: PublishInput): Promise<void>;
}

export interface LoadScheduleInput extends ObjectRef {
  /** The schedule's spec when the workflow has one (CR-less, or updated); else read from the CR. */
  spec?: unknown;
}

export interface LoadedSchedule {
  /** Validated, with defaults. */
  spec: MigrationScheduleSpec;
  /** The policy (NamespacedSchedulePolicy of the namespace first, then SchedulePolicy), defaulted. */
  policy?: SchedulePolicyItem;
  /** Why there is no policy: `schedulepolicy <name> not found`, or its validation errors. */
  policyError?: string;
}

export interface PublishScheduleInput extends ObjectRef {
  status: MigrationScheduleStatus;
  events: KubeEvent[];
  /** Triggers skipped since the last publish, for the worker's metric. */
  skippedTriggers?: number;
}

export interface DeleteMigrationsInput {
  namespace: string;
  names: string[];
}

export interface StandbyActivationInput extends ObjectRef {
  /** The schedule's ClusterPair (in the schedule's namespace). */
  clusterPair: string;
  /** The template's namespaces and namespaceSelectors: where the migrated apps are. */
  namespaces?: string[];
  namespaceSelectors?: Record<string, string>;
}

export interface StandbyActivation {
  /** The schedule's apps run on the standby. */
  active: boolean;
  /** What says so (up to 5 lines), e.g. `deployment shop/web runs 2 replicas`. */
  evidence: string[];
}

export interface AwaitMigrationInput {
  /** The Migration workflow a previous run of the schedule started and left running. */
  workflowId: string;
}

export interface MigrationOutcome {
  /** Running, or the migration's final status: Successful, PartialSuccess or Failed. */
  status: string;
  reason?: string;
}

export interface MigrationScheduleActivities {
  loadSchedule(input: LoadScheduleInput): Promise<LoadedSchedule>;
  /** autoSuspend: reads, through the ClusterPair, whether the schedule's apps were activated on the standby. */
  checkStandbyActivation(input: StandbyActivationInput): Promise<StandbyActivation>;
  /** Sets the CR's spec.suspend true; false when there is no CR (a schedule started without one). */
  suspendSchedule(input: ObjectRef): Promise<boolean>;
  /** A Migration workflow's outcome by id (`Running` while it runs): a child an earlier run left running. */
  migrationOutcome(input: AwaitMigrationInput): Promise<MigrationOutcome>;
  publishScheduleStatus(input: PublishScheduleInput): Promise<void>;
  /** Deletes Migration CRs (their workflows' records stay in Temporal); returns those that existed. */
  deleteMigrations(input: DeleteMigrationsInput): Promise<string[]>;
}

/** Error types a workflow must not retry: the input is wrong, not the world. */
export const NON_RETRYABLE = {
  invalidSpec: 'InvalidSpec',
  notFound: 'NotFound',
  clusterPair: 'ClusterPairError',
  unauthorized: 'Unauthorized',
  rule: 'RuleFailed',
  volume: 'VolumeError',
} as const;
