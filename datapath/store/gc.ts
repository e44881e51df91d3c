// Garbage collection of the chunk store: which chunks go, and which packs are deleted or compacted.
// gc drops chunks with no references and no pin (liveness.ts) from the index at once (they are gone
// for every reader; their record's magic is overwritten with "DEAD" so a restart does not bring
// them back), and reclaims disk by deleting packs with no live record and compacting packs that
// are at least half dead: live records are appended to an open pack, then the old pack is deleted
// (a crash in between leaves harmless duplicates, which a scan on open counts as dead).
import type { Entry } from './liveness.js';
import type { PackFiles } from './pack.js';

/** What gc works on; the store's index, packs, and the ways it changes them. */
export interface GcScope {
  index: ReadonlyMap<string, Entry>;
  packs: PackFiles;
  /** A chunk that stays although no manifest references it: pinned, or being written. */
  held(hex: string): boolean;
  /** Takes a chunk out of the index and marks its record dead. */
  drop(hex: string, e: Entry): void;
  /** Appends a copy of a chunk's record to an open pack and points the index at it. */
  move(hex: string, e: Entry): void;
}

export interface GcResult {
  deleted: number;
  packsRemoved: number;
  packsCompacted: number;
}

/**
 * With `compact` false, packs with live records are left as they are (dead chunks are still
 * dropped and packs with no live record deleted): compacting moves live records synchronously, on
 * the caller's event loop, so a caller on a replication's path (a source's snapshot) leaves it to
 * a later gc (SnapshotManager.compact).
 */
export function collectGarbage(
  { index, packs, held, drop, move }: GcScope,
  { compact = true }: { compact?: boolean } = {},
): GcResult {
  let deleted = 0;
  for (const [hex, e] of index) {
    if (e.refs === 0 && !held(hex)) {
      drop(hex, e);
      deleted++;
    }
  }
  let packsRemoved = 0;
  let packsCompacted = 0;
  for (const p of packs.list()) {
    if (p.size === 0) continue;
    const dead = p.size - p.live;
    if (dead === 0 || dead * 2 < p.size) continue;
    if (p.busy || (p.live > 0 && !compact)) continue;
    packs.retire(p);
    if (p.live > 0) {
      for (const [hex, e] of [...index]) if (e.pack === p.n) move(hex, e);
      packs.syncTails();
      packsCompacted++;
    } else packsRemoved++;
    packs.remove(p);
  }
  return { deleted, packsRemoved, packsCompacted };
}
