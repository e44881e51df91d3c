// Every metric the storage agent serves on GET /metrics (names kept from its first, hand-written
// registry): counters the agent increments, returned here, and values read from its managers at
// scrape time, so `a`'s managers need to exist only by the first scrape.
import type { ChunkStore } from '../store/chunk-store.js';
import type { ReplicationManager } from '../source/replicate.js';
import type { StandbyManager } from '../destination/standby.js';
import type { SnapshotManager } from '../source/volumes.js';
import type { Metrics } from './metrics.js';
import { hasEnded } from '../protocol/agent-api.js';

type Labels = Record<string, string>;

export interface AgentCounters {
  http: (by?: number, l?: Labels) => void;
  authFailures: (by?: number) => void;
  authThrottled: (by?: number) => void;
  chunksReceived: (by?: number, l?: Labels) => void;
  bytesReceived: (by?: number) => void;
  bytesSent: (by?: number) => void;
  chunksSent: (by?: number) => void;
}

export interface AgentMetricSources {
  replications: ReplicationManager;
  snapshots: SnapshotManager;
  store: ChunkStore;
  standby: StandbyManager;
}

export function agentMetrics(m: Metrics, a: AgentMetricSources): AgentCounters {
  const count = {
    http: m.counter('ferry_agent_http_requests_total', 'HTTP requests served, by server and status code.', [
      'server',
      'code',
    ]),
    authFailures: m.counter(
      'ferry_agent_auth_failures_total',
      'Requests refused for a missing or wrong bearer token.',
    ),
    authThrottled: m.counter(
      'ferry_agent_auth_throttled_total',
      'Requests refused with 429 after too many failed authentications from their source.',
    ),
    chunksReceived: m.counter(
      'ferry_agent_chunks_received_total',
      'Verified chunks received, by result (stored or duplicate).',
      ['result'],
    ),
    bytesReceived: m.counter(
      'ferry_agent_bytes_received_total',
      'Chunk payload bytes received (stored form).',
    ),
    bytesSent: m.counter(
      'ferry_agent_bytes_sent_total',
      'Bytes sent to destination agents (queries, chunks, manifests).',
    ),
    chunksSent: m.counter('ferry_agent_chunks_sent_total', 'Chunks sent to destination agents.'),
  };
  m.counterFn(
    'ferry_agent_replications_succeeded_total',
    'Replications that succeeded.',
    () => a.replications.results.succeeded,
  );
  m.counterFn(
    'ferry_agent_replications_failed_total',
    'Replications that failed.',
    () => a.replications.results.failed,
  );
  m.counterFn(
    'ferry_agent_replications_cancelled_total',
    'Replications that were cancelled.',
    () => a.replications.results.cancelled,
  );
  m.gauge(
    'ferry_agent_replications_running',
    'Replications in progress.',
    () => a.replications.list().filter((s) => !hasEnded(s.phase)).length,
  );
  m.counterFn('ferry_agent_snapshots_total', 'Snapshots taken.', () => a.snapshots.snapshotsTaken);
  m.counterFn(
    'ferry_agent_snapshot_duration_seconds_sum',
    'Total time spent taking snapshots.',
    () => a.snapshots.snapshotSeconds,
  );
  m.counterFn(
    'ferry_agent_snapshot_bytes_read_total',
    'File bytes read by snapshots.',
    () => a.snapshots.snapshotBytesRead,
  );
  m.gauge('ferry_agent_chunk_store_chunks', 'Chunks in the local chunk store.', () => a.store.count);
  m.gauge(
    'ferry_agent_chunk_store_disk_bytes',
    'Bytes of the chunk store pack files on disk (dead records count until their pack is deleted or compacted).',
    () => a.store.diskBytes,
  );
  m.counterFn(
    'ferry_agent_chunk_store_chunks_written_total',
    'Chunks written to the store.',
    () => a.store.chunksWritten,
  );
  m.counterFn(
    'ferry_agent_chunk_store_bytes_written_total',
    'Stored bytes written to the store.',
    () => a.store.bytesWritten,
  );
  m.counterFn(
    'ferry_agent_chunk_store_chunks_deleted_total',
    'Chunks garbage-collected.',
    () => a.store.chunksDeleted,
  );
  m.series(
    'counter',
    'ferry_agent_stage_seconds_total',
    'Data path: seconds during which each stage (read, cut, hash, pack, send, verify, write) had work in flight (datapath/stages.ts).',
    ['stage'],
    () => a.store.stages.totals().map((t) => ({ labels: { stage: t.stage }, value: t.seconds })),
  );
  m.series(
    'counter',
    'ferry_agent_stage_bytes_total',
    'Data path: bytes each stage handled (datapath/stages.ts).',
    ['stage'],
    () => a.store.stages.totals().map((t) => ({ labels: { stage: t.stage }, value: t.bytes })),
  );
  m.counterFn('ferry_agent_standby_commits_total', 'Restore points committed.', () => a.standby.commits);
  m.counterFn(
    'ferry_agent_standby_recycled_files_total',
    "Changed large files a commit wrote by patching a retired restore point's version instead of copying the current one.",
    () => a.standby.recycledFiles,
  );
  m.series(
    'counter',
    'ferry_agent_standby_prepared_copies_total',
    "Copies of large restore-point files started ahead of a commit at a source's request, and those a commit took.",
    ['result'],
    () => [
      { labels: { result: 'started' }, value: a.standby.prepared.counts.started },
      { labels: { result: 'taken' }, value: a.standby.prepared.counts.taken },
    ],
  );
  m.series(
    'counter',
    'ferry_agent_standby_built_files_total',
    "Large files of a coming restore point started while their chunks arrived, at a source's request, and those a commit took.",
    ['result'],
    () => [
      { labels: { result: 'started' }, value: a.standby.builds.counts.started },
      { labels: { result: 'taken' }, value: a.standby.builds.counts.taken },
    ],
  );
  m.counterFn(
    'ferry_agent_standby_chunks_into_files_total',
    'Received chunks written straight into a large file being built, kept there instead of in a pack.',
    () => a.standby.builds.counts.offered,
  );
  m.gauge(
    'ferry_agent_standby_file_chunks',
    'Chunks the destination keeps only in restore-point files (not in packs).',
    () => a.standby.files.size,
  );
  m.series(
    'gauge',
    'ferry_agent_standby_restore_point_age_seconds',
    'Per standby volume, seconds since the source took the snapshot of its current restore point: the age of the data a failover would promote.',
    ['volume'],
    () => {
      const now = Date.now();
      return a.standby.currentSnapshotTimes().map((p) => ({
        labels: { volume: p.volume },
        value: Math.max(0, (now - Date.parse(p.createdAt)) / 1000),
      }));
    },
  );
  return count;
}
