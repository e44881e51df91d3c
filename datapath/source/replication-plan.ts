// Planning a replication's transfer: ask the destination, 8192 hashes per query, which distinct
// chunks of the snapshot it lacks. Incremental: chunks of the destination's current restore point
// are known to be there (it is one of our snapshots and restore points keep their chunks), so they
// are not even asked about. Full: ask about all of them with verify=1, so the destination
// re-hashes its copies and reports drifted ones as missing.
import type { AgentClient } from '../client/client.js';
import type { ChunkRef, Manifest } from '../protocol/manifest.js';
import { manifestChunks } from '../protocol/manifest.js';
import type { Job } from './replication-job.js';

const HAVE_BATCH = 8192;

export interface TransferPlan {
  /** The chunks (hash → length) that may be missing at the destination. */
  unique: Map<string, number>;
  /** Those of them the destination lacks. */
  missing: string[];
}

/**
 * Plans the transfer of `manifest` to `dest`, incremental against `base` (the destination's current
 * restore point) when given, and counts the plan into the job's totals.
 */
export async function planTransfer(
  j: Job,
  dest: AgentClient,
  manifest: Manifest,
  base: Manifest | undefined,
): Promise<TransferPlan> {
  const s = j.status;
  // Incremental: only chunks of files whose chunk list differs from the base's can be missing;
  // an unchanged or metadata-only snapshot asks nothing and builds no chunk sets.
  const unique = base ? changedChunks(base, manifest) : manifestChunks(manifest);
  s.chunksTotal = base ? (s.snapshot?.uniqueChunks ?? unique.size) : unique.size;
  const known = new Set<string>();
  if (base && unique.size > 0) for (const h of manifestChunks(base).keys()) known.add(h);
  const delivered = j.delivered;
  const ask = [...unique.keys()].filter((h) => !known.has(h) && !delivered?.has(h));
  const missing: string[] = [];
  for (let i = 0; i < ask.length; i += HAVE_BATCH) {
    const batch = ask.slice(i, i + HAVE_BATCH);
    const bufs = batch.map((h) => Buffer.from(h, 'hex'));
    s.bytesOnWire += bufs.length * 32;
    const present = await dest.hasChunks(bufs, {
      verify: s.kind === 'full',
      session: s.id,
      signal: j.abort.signal,
    });
    present.forEach((p, k) => {
      if (!p) missing.push(batch[k] as string);
    });
  }
  const missingBytes = missing.reduce((a, h) => a + (unique.get(h) ?? 0), 0);
  // A retry re-plans: keep the first plan's total and count what arrived meanwhile as done
  // (including chunks of an upload that failed half-way).
  if (!j.planned) {
    j.planned = true;
    s.bytesTotal = s.bytesDone + missingBytes; // bytesDone: streamed during the snapshot
  } else if (missingBytes <= s.bytesTotal - s.bytesDone) {
    s.bytesDone = s.bytesTotal - missingBytes;
  } else {
    s.bytesTotal = s.bytesDone + missingBytes;
  }
  s.chunksSkipped = s.chunksTotal - missing.length - s.chunksSent;
  if (s.chunksSkipped < 0) s.chunksSkipped = 0;
  return { unique, missing };
}

/** Chunks (hash → length) of the files of `next` whose chunk list differs from the same path's in `base`. */
function changedChunks(base: Manifest, next: Manifest): Map<string, number> {
  const before = new Map<string, ChunkRef[]>();
  for (const e of base.entries) if (e.type === 'file') before.set(e.path, e.chunks);
  const out = new Map<string, number>();
  for (const e of next.entries) {
    if (e.type !== 'file') continue;
    const b = before.get(e.path);
    if (b && sameChunkList(b, e.chunks)) continue;
    for (const [h, n] of e.chunks) out.set(h, n);
  }
  return out;
}

function sameChunkList(a: ChunkRef[], b: ChunkRef[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] as ChunkRef)[0] !== (b[i] as ChunkRef)[0]) return false;
  return true;
}
