// The agent's HTTP API: request and response payloads shared by the server (datapath/agent/) and
// the typed client (datapath/client/client.ts).
//
// Control port (default 9001), JSON over HTTPS, `Authorization: Bearer <token>` on everything but
// /healthz:
//   GET    /healthz                                   → {ok: true}                       (no auth)
//   GET    /metrics                                   → Prometheus text format
//   GET    /v1/info                                   → AgentInfo
//   GET    /v1/volumes                                → {volumes: VolumeInfo[]}
//   PUT    /v1/volumes/:volume                        → VolumeInfo   (creates the directory)
//   GET    /v1/volumes/:volume                        → VolumeInfo
//   POST   /v1/volumes/:volume/snapshots              SnapshotRequest → SnapshotSummary (201)
//   GET    /v1/volumes/:volume/snapshots              → {snapshots: SnapshotSummary[]}
//   GET    /v1/volumes/:volume/snapshots/:id          → SnapshotSummary
//   GET    /v1/volumes/:volume/snapshots/:id/manifest → Manifest (without stat identities)
//   DELETE /v1/volumes/:volume/snapshots/:id          → 204
//   POST   /v1/replications                           ReplicationRequest → ReplicationStatus (202)
//   GET    /v1/replications                           → {replications: ReplicationStatus[]}
//   GET    /v1/replications/:id                       → ReplicationStatus
//   DELETE /v1/replications/:id                       → ReplicationStatus (cancels)
//   GET    /v1/replications/:id/destination?timeoutMs=N → DestinationCheck (this agent asks the
//                                                    replication's destination about its standby)
//   GET    /v1/standby                                → {standby: StandbyInfo[]}
//   GET    /v1/standby/:volume                        → StandbyInfo (committing: commits under way, what each waits for)
//   GET    /v1/standby/:volume/restore-points/:id/manifest → Manifest
//   POST   /v1/standby/:volume/commit?retain=N&full=1 manifest JSON (Content-Encoding: br|gzip|deflate
//                                                    allowed; X-Ferry-Session) → CommitResult
//                                                    409 missing_chunks {details:{missing, missingCount}}
//                                                    body may instead be a ManifestDelta {…header, base, ops}
//                                                    against restore point `base` (manifest-delta.ts);
//                                                    409 unknown_base when this agent lacks it
//   POST   /v1/standby/:volume/prepare                {paths, for?} → {preparing} (copies ahead of a commit)
//   POST   /v1/standby/:volume/build                  {for, files: [{path, from, chunks, done}]} → {building}
//                                                    (large new files written while their chunks arrive;
//                                                    build-hints.ts)
//   POST   /v1/standby/:volume/promote                {restorePoint?, target?, replace?} → PromoteResult
//                                                    (409 conflict when the target exists, unless replace)
// Data port (default 9010): the bulk chunk protocol of wire.ts (/v1/chunks/have, /v1/chunks),
// plus /healthz. Errors everywhere: {error: {code, message, retryable, details?}}; 401 bodies are
// always exactly {"error":{"code":"unauthorized","message":"unauthorized","retryable":false}}.
import type { ChunkerParams } from '../store/chunker.js';
import type { HashAlgorithm } from '../store/hash.js';
import type { Limits } from './limits.js';
import type { ReplicationKind } from './mode.js';
import type { SnapshotSummary } from '../source/volumes.js';
import type { StandbyInfo } from '../destination/standby.js';

export type {
  CommitProgress,
  CommitResult,
  Promotion,
  RestorePoint,
  StandbyInfo,
} from '../destination/standby.js';
export type { SnapshotSummary, VolumeInfo } from '../source/volumes.js';
export type { SnapshotStats } from '../source/snapshot.js';
export type { Manifest, Entry, FileEntry, DirEntry, SymlinkEntry, ChunkRef } from './manifest.js';

/**
 * What a standby commit names as its wait (`StandbyInfo.committing[].waitingFor`) while another
 * commit of its volume, an early retire, or the release of what the last commit pruned holds the
 * volume's lock. A source tells a queued commit from a stuck one by it
 * (activities/transfer-progress.ts), so it is part of the protocol: the text stays as agents of
 * every version say it, though it names only the first two.
 */
export const VOLUME_LOCK_WAIT = 'the volume lock (another commit or an early retire)';

/**
 * What an agent can do beyond the first wire API, so a newer caller can tell an older agent
 * (which ignores fields it does not know) apart: `awaitConfirm` (ReplicationRequest.awaitConfirm
 * and the confirm window).
 */
export const AGENT_FEATURES = ['awaitConfirm'] as const;
export type AgentFeature = (typeof AGENT_FEATURES)[number];

/** Whether the agent `info` describes has `feature` (agents before the list have none of them). */
export function hasFeature(info: Pick<AgentInfo, 'features'>, feature: AgentFeature): boolean {
  return info.features?.includes(feature) ?? false;
}

export interface AgentInfo {
  agentId: string;
  version: string;
  /** AGENT_FEATURES this agent has; absent from agents older than the list. */
  features?: string[];
  dataPort: number;
  /**
   * "http" when the data port also serves plain HTTP (--data-plaintext; there its token is
   * wire.ts dataPortToken), "https" otherwise. Absent from agents older than it: https.
   */
  dataScheme?: 'https' | 'http';
  port: number;
  dataRoot: string;
  /** The hash a new volume's snapshots name chunks with (an existing volume keeps its own). */
  hash: HashAlgorithm;
  /** The hashes this agent can compute, so can receive chunks named by. */
  hashes: HashAlgorithm[];
  chunker: ChunkerParams;
  limits: Limits;
  retain: number;
  fsync: boolean;
  /** Whether chunks are compressed where it pays. */
  compress: boolean;
  startedAt: string;
}

export interface DestinationSpec {
  /** Control URL of the destination agent, e.g. https://10.0.0.5:9001 (ClusterPair options.ip/port). */
  url: string;
  /** The destination's bearer token (ClusterPair options.token). Never logged, never echoed. */
  token: string;
  /** PEM CA bundle to trust for the destination's certificate; default: the system CAs. */
  caCertPem?: string;
  /** Name of the standby volume on the destination; default: the source volume name. */
  volume?: string;
  /**
   * Override the data URL; default: the destination's host with the dataPort it advertises. An
   * http URL is used only when the destination advertises a plaintext data port (dataScheme).
   */
  dataUrl?: string;
}

/** POST /v1/volumes/:volume/snapshots. */
export interface SnapshotRequest {
  /** Re-read every file (else files whose stat identity is unchanged since `parent` are reused). */
  full?: boolean;
  /** The snapshot to compare with; default the volume's latest. */
  parent?: string;
  /**
   * The destination this snapshot is about to be replicated to (a Migration snapshots before it
   * replicates): each large changed file is named to it as the snapshot finds it (POST
   * /v1/standby/:v/prepare), so it copies the previous version meanwhile. Best effort.
   */
  destination?: DestinationSpec;
}

export interface ReplicationRequest {
  /** Idempotency key: re-POSTing an id returns the running/finished replication, or resumes a failed one. */
  id?: string;
  volume: string;
  destination: DestinationSpec;
  /** Replicate this existing snapshot instead of taking a new one. */
  snapshotId?: string;
  /** Force full (true) or incremental (false); when absent the ClusterPair mode rule decides. */
  full?: boolean;
  /** ClusterPair `options.mode` ("DisasterRecovery" → always incremental; else every 7th is full). */
  mode?: string;
  /** Restore points the destination keeps for this volume (default: the destination's --retain). */
  retain?: number;
  /** Chunk upload requests in flight (default 3). */
  concurrency?: number;
  /**
   * Take the snapshot and send its data, but commit only once this id is posted again without
   * `awaitConfirm`; unconfirmed for the source agent's confirm window (default 5 min), the
   * replication is cancelled, and posting the id again resumes it. What a Migration's snapshot step
   * asks (activities/volumes.ts): the data moves once the snapshot is taken (and while it reads,
   * unless streamDuringSnapshot is false) and while the post-exec rule runs, and only the transfer
   * step, which the Migration reaches once the rule succeeded, lets the standby switch. The
   * snapshot of such a replication reuses unchanged files even when the replication is full (the
   * application may be quiesced while it runs); a full one still asks about, verifies and commits
   * every chunk.
   */
  awaitConfirm?: boolean;
  /**
   * Send chunks while the snapshot reads them (default true). A Migration's snapshot step sets it
   * false: sending competes with the snapshot for the CPU and made it about twice as long (bench
   * --migration --stream against --migration, 2 cores: 512 MiB full copy 1.1 -> 2.0-2.9 s, 1% of
   * pages 0.5 -> 0.8-1.1 s; 2 GiB 4.0 -> 7.5 s and 1.7 -> 4.1 s), with no total time gained that
   * the runs resolved. The snapshot's duration is the window in which its files are read at
   * different moments, and the time a pre-exec rule keeps the application quiesced.
   */
  streamDuringSnapshot?: boolean;
}

export const REPLICATION_PHASES = [
  'pending',
  'snapshotting',
  'planning',
  'transferring',
  'committing',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type ReplicationPhase = (typeof REPLICATION_PHASES)[number];

/** The phases a replication ends in. */
export const ENDED_PHASES: readonly ReplicationPhase[] = ['succeeded', 'failed', 'cancelled'];

/** Whether a replication in `phase` has ended. */
export function hasEnded(phase: ReplicationPhase): boolean {
  return ENDED_PHASES.includes(phase);
}

/**
 * GET /v1/replications/:id?phase=P&waitMs=N answers once the replication's phase is no longer P
 * (at once when it is not), or after N ms, at most this long.
 */
export const MAX_REPLICATION_WAIT_MS = 10_000;

/**
 * GET /v1/replications/:id/destination: the source agent's own question to the replication's
 * destination agent (GET /v1/standby/:volume there), answered within `timeoutMs`. Why: the worker
 * watching a commit asks the destination too, and may be cut off from it while the source is not
 * (activities/transfer-progress.ts CommitWatch asks both).
 */
export interface DestinationCheck {
  reachable: boolean;
  /** The destination's standby volume (null when it has no restore point of it), when reachable. */
  standby: StandbyInfo | null;
  /** Why it was not reachable. */
  error?: string;
}
/** Bounds of DestinationCheck's `timeoutMs` (default 4 s). */
export const DESTINATION_CHECK_MS = { min: 500, max: 30_000, default: 4_000 } as const;

export interface ReplicationError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface ReplicationStatus {
  id: string;
  volume: string;
  destination: { url: string; volume: string };
  kind: ReplicationKind;
  /** Why this kind: "explicit", "mode DisasterRecovery", or "every 7th (previous N)". */
  kindReason: string;
  /** Earlier successful replications of this volume to this destination (input to the mode rule). */
  previous: number;
  snapshotId: string | null;
  snapshot: SnapshotSummary | null;
  restorePoint: string | null;
  attempt: number;
  retries: number;
  phase: ReplicationPhase;
  startedAt: string;
  finishedAt: string | null;
  /** Raw bytes of the chunks the destination lacked (known once planning is done). */
  bytesTotal: number;
  /** Raw bytes of those chunks the destination has accepted. */
  bytesDone: number;
  /** Distinct chunks in the snapshot. */
  chunksTotal: number;
  chunksSent: number;
  /** Chunks the destination already had. */
  chunksSkipped: number;
  /** Of the chunks sent, those sent as sub-chunk deltas against chunks the destination held. */
  chunksDelta: number;
  /** Every byte sent to the destination: queries, chunk frames (compressed), manifest. */
  bytesOnWire: number;
  /** Of which chunk payload (stored form). */
  chunkBytesOnWire: number;
  /** Logical size of the snapshot (sum of file sizes). */
  bytesLogical: number;
  rateBytesPerSec: number;
  etaSeconds: number | null;
  durationMs: number | null;
  /** Wall time per phase so far (ms). */
  timings: { snapshotMs: number; planMs: number; transferMs: number; commitMs: number };
  error: ReplicationError | null;
  /**
   * True while a replication requested with `awaitConfirm` has sent its data and waits for the
   * confirmation to commit; absent otherwise.
   */
  awaitingConfirm?: boolean;
}

export interface PromoteResult {
  volume: string;
  path: string;
  restorePoint: string;
  /** Where the replaced volume was moved (promote with replace over an existing volume). */
  replaced?: string;
}

export interface HaveResult {
  present: boolean[];
}
