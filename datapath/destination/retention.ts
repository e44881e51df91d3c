// Which restore points of a standby volume leave, and how (standby.ts decides when).
//
// A volume keeps its last `retain` restore points. After a commit, prune() removes the older ones
// in two steps. Before the commit answers, their manifests and records go (a restore point without
// one no longer exists, and StandbyManager.open removes its tree): every read after the answer sees
// them gone. After it has answered (StandbyManager queues it on the volume's lock, so the next
// commit waits for it), Leaving.release() gives back their chunk references, moves the chunks kept
// only in their files (`leaving`), moves each tree no kept restore point uses out of rp/ and
// deletes its files in the background. A tree shared by several restore points (an unchanged
// snapshot links to an earlier one's tree) stays while any of them is kept.
//
// Before a commit that will push restore points out of `retain`, retire() takes them out early
// and hands their trees to the commit as donors: a changed large file of the new tree is made by
// patching a retired version of it (only the chunks changed since, tree.ts recycle) instead of
// copying the current version whole and patching that. Should the commit fail, those restore
// points are gone a commit early: retain - 1 remain.
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkStore } from '../store/chunk-store.js';
import { newId } from '../fs-util.js';
import { removeTree } from '../fs-thread.js';
import type { FileEntry, Manifest } from '../protocol/manifest.js';
import { chunkLists } from '../protocol/manifest.js';

/** A restore point's record, kept in `manifests/<id>.json`. */
export interface PointRecord {
  seq: number;
  committedAt: string;
  manifest: Manifest;
  /** The rp/ folder holding this restore point's files when it shares another's (else its own id). */
  tree?: string;
}

/** One standby volume as retention sees it. */
export interface VolumeState {
  /** `<root>/standby/<volume>`. */
  vdir: string;
  recs: Map<string, PointRecord>;
  /** Its current restore point, never removed here. */
  current: string | null;
  /**
   * Called with a tree's folder (`rp/<tree>`) before it moves out of rp/, once the restore points
   * using it have been forgotten (file-chunks.ts: chunks kept in its files move or are saved).
   */
  leaving?: (treeDir: string) => Promise<void>;
}

/** A retired restore point whose files a commit may recycle (retire). */
export interface Donor {
  /** The restore points that used the tree. */
  ids: string[];
  /** Its tree, moved to tmp/. */
  dir: string;
  manifest: Manifest;
}

/**
 * Deletes a tree already moved out of rp/ in the background, off a commit's path: tmp/, where it
 * waits, is emptied on start should the agent stop first.
 */
export function removeInBackground(dir: string): void {
  void removeTree(dir, { background: true }).catch(() => undefined);
}

function bySeq(v: VolumeState): Array<[string, PointRecord]> {
  return [...v.recs.entries()].sort((a, b) => a[1].seq - b[1].seq);
}

/** Takes restore point `id` out of `v`: its manifest file and its record (not its chunk references). */
async function forgetRecord(v: VolumeState, id: string): Promise<PointRecord> {
  await fs.promises.rm(path.join(v.vdir, 'manifests', `${id}.json`), { force: true });
  const rec = v.recs.get(id) as PointRecord;
  v.recs.delete(id);
  return rec;
}

/** Takes restore point `id` out of `v`: its manifest file, its record, its chunk references. */
async function forget(v: VolumeState, id: string, store: ChunkStore): Promise<PointRecord> {
  const rec = await forgetRecord(v, id);
  store.unrefLists(chunkLists(rec.manifest));
  return rec;
}

/** Moves tree `rp/<tree>` of `v` into tmp/ (emptied on start); its new path, or null when it is not there. */
async function moveToTmp(v: VolumeState, tree: string, kind: 'donor' | 'trash'): Promise<string | null> {
  const to = path.join(v.vdir, 'tmp', `${kind}-${tree}-${newId()}`);
  return fs.promises
    .rename(path.join(v.vdir, 'rp', tree), to)
    .then(() => to)
    .catch(() => null);
}

/**
 * The trees a commit of `v` may recycle: those of the restore points it will push out of `retain`
 * (the oldest, never the current one) that no kept restore point uses, each with the restore
 * points using it. Oldest first.
 */
export function donorCandidates(
  v: VolumeState,
  retain: number,
): Array<{ tree: string; ids: string[]; manifest: Manifest }> {
  const ordered = bySeq(v);
  const leaving = new Set(
    ordered
      .slice(0, Math.max(0, v.recs.size + 1 - retain))
      .map(([id]) => id)
      .filter((id) => id !== v.current),
  );
  const users = new Map<string, string[]>();
  for (const [id, r] of ordered) {
    const tree = r.tree ?? id;
    users.set(tree, [...(users.get(tree) ?? []), id]);
  }
  return [...users]
    .filter(([, ids]) => ids.every((id) => leaving.has(id)))
    .map(([tree, ids]) => ({ tree, ids, manifest: (v.recs.get(ids[0] as string) as PointRecord).manifest }));
}

/**
 * Retires, before a commit builds its tree, the restore points that commit would prune after it
 * (donorCandidates): their manifests go first, then each tree moves to tmp/, where the commit takes
 * what it recycles and deletes the rest.
 */
export async function retire(v: VolumeState, retain: number, store: ChunkStore): Promise<Donor[]> {
  const donors: Donor[] = [];
  for (const { tree, ids, manifest } of donorCandidates(v, retain)) {
    for (const id of ids) {
      await forget(v, id, store);
      if (id !== tree) await fs.promises.rm(path.join(v.vdir, 'rp', id), { force: true });
    }
    await v.leaving?.(path.join(v.vdir, 'rp', tree));
    const dir = await moveToTmp(v, tree, 'donor');
    if (dir) donors.push({ ids, dir, manifest });
  }
  return donors;
}

/** Restore points pruned from a volume: gone from its records, their chunks and trees not yet given back. */
export interface Leaving {
  ids: string[];
  /** Gives back their chunk references and their trees no kept restore point uses. */
  release(): Promise<void>;
}

/**
 * Removes the restore points of `v` beyond the newest `retain` (never the current one) from its
 * records (and their own symlinks to a shared tree); release() does the rest.
 */
export async function prune(v: VolumeState, retain: number, store: ChunkStore): Promise<Leaving> {
  const ordered = bySeq(v);
  const excess = ordered.slice(0, Math.max(0, ordered.length - retain)).filter(([id]) => id !== v.current);
  const gone: Array<[string, PointRecord]> = [];
  for (const [id] of excess) {
    const rec = await forgetRecord(v, id);
    if ((rec.tree ?? id) !== id) await fs.promises.rm(path.join(v.vdir, 'rp', id), { force: true });
    gone.push([id, rec]);
  }
  return {
    ids: gone.map(([id]) => id),
    release: async () => {
      for (const [, rec] of gone) store.unrefLists(chunkLists(rec.manifest));
      const trees = new Set(gone.map(([id, rec]) => rec.tree ?? id));
      for (const tree of trees) {
        // no longer any kept restore point's (a commit since may have shared it again)
        if (v.recs.has(tree) || [...v.recs.values()].some((r) => r.tree === tree)) continue;
        await v.leaving?.(path.join(v.vdir, 'rp', tree));
        const out = await moveToTmp(v, tree, 'trash');
        if (out) removeInBackground(out);
      }
    },
  };
}

/** The newest of `donors` (oldest first) holding file `rel`, with its entry there. */
export function newestDonated(
  donors: readonly Donor[],
  rel: string,
): { path: string; entry: FileEntry } | null {
  for (let i = donors.length - 1; i >= 0; i--) {
    const d = donors[i] as Donor;
    const e = d.manifest.entries.find((x) => x.path === rel);
    if (e?.type === 'file') return { path: path.join(d.dir, rel), entry: e };
  }
  return null;
}

/**
 * rm -rf that also works on trees containing directories without write/execute permission, on the
 * tree remover's thread (fs-thread.ts) so the event loop keeps serving meanwhile.
 */
export function forceRemove(dir: string): Promise<void> {
  return removeTree(dir);
}
