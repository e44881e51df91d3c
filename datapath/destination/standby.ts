// Destination side: standby volumes and their restore points.
//
// Layout under `<root>/standby/<volume>/`:
//   rp/<id>/            a materialised restore point (a whole snapshot, read-only by convention)
//   manifests/<id>.json its manifest + commit sequence; a restore point exists iff both exist
//   current -> rp/<id>  the standby volume a PV points at; switched by rename(2) of a new symlink
//   rp/<id> -> <other>  a restore point whose tree is identical to an earlier one's (nothing changed
//                       between the snapshots) is a symlink to that tree, which is kept while any
//                       restore point uses it
//   tmp/                staging, emptied on start
//
// Commit = check every chunk is present (else 409 missing_chunks listing them, so the sender
// can send and retry), build the new tree in tmp/, rename it to rp/<id>, write its manifest,
// then atomically replace `current`. A reader that resolves `current` sees the previous restore
// point or the new one, never a mix, and a kill -9 at any step leaves the previous one intact
// (`open` removes half-built trees and manifests without a tree). The last `retain` restore points
// are kept so a failover can pick an older one; older ones are removed and chunks no restore point
// (or source snapshot) uses are garbage-collected.
//
// Committing a snapshot identical to the current restore point (same entries, same root mode) is
// O(entries) in memory and O(1) on disk: no tree is built, the new restore point shares the
// current one's. Pruning moves a tree out of rp/ at once and deletes its files in the background.
//
// A commit that will push restore points out of `retain` retires them before it builds (retire):
// their trees move to tmp/, and a changed large file of the new tree is made by patching such a
// retired version of it (only the chunks changed since) instead of copying the current version
// whole and patching that.
//
// Materialising (building a new tree in tmp/) is tree.ts's TreeWriter. Because it hard-links
// unchanged files, restore points must not be written to: a failover promotes a restore point into
// a writable volume (a copy, reflinked where the filesystem can).
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { AgentError, notFound } from '../errors.js';
import { fsyncDir, KeyedMutex, newId, readJson, removeTempFiles, writeFileAtomic } from '../fs-util.js';
import type { Entry, FileEntry, Manifest } from '../protocol/manifest.js';
import { isVolumeName, manifestChunks, manifestStats } from '../protocol/manifest.js';
import { sameEntry } from '../protocol/manifest-delta.js';
import { copyPrevious, TreeWriter } from './tree.js';
import { PreparedCopies } from './prepare.js';
import { PreparedBuilds } from './build.js';
import type { BuildPiece } from '../protocol/build-hints.js';

export interface RestorePoint {
  id: string;
  volume: string;
  seq: number;
  committedAt: string;
  /** When the source took the snapshot. */
  createdAt: string;
  sourceVolume: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  path: string;
}

export interface StandbyInfo {
  volume: string;
  /** Path of the standby volume (a symlink to the current restore point). */
  path: string;
  current: string | null;
  restorePoints: RestorePoint[];
  /** The last promotion of this standby volume, while the volume it made still exists. */
  promoted?: Promotion;
}

/** What a promotion made: kept in `standby/<volume>/promoted.json`. */
export interface Promotion {
  restorePoint: string;
  /** The writable volume it created (`<root>/volumes/<target>`). */
  path: string;
  at: string;
  /** Where the volume that was at `path` before went (a replace), when there was one. */
  replaced?: string;
}

export interface CommitResult {
  restorePoint: RestorePoint;
  previous: string | null;
  pruned: string[];
  filesWritten: number;
  filesLinked: number;
  bytesWritten: number;
  chunksDeleted: number;
  alreadyCommitted: boolean;
}

interface Record_ {
  seq: number;
  committedAt: string;
  manifest: Manifest;
  /** The rp/ folder holding this restore point's files when it shares another's (else its own id). */
  tree?: string;
}

const MAX_MISSING_LISTED = 10_000;

/** A retired restore point whose files a commit may recycle (retire). */
interface Donor {
  /** The restore points that used the tree. */
  ids: string[];
  /** Its tree, moved to tmp/. */
  dir: string;
  manifest: Manifest;
}

export class StandbyManager {
  private readonly vols = new Map<string, Map<string, Record_>>();
  private readonly lock = new KeyedMutex();
  private readonly removing = new Set<Promise<void>>();
  /** Per volume, restore points retired ahead of a commit, from base restore point `base` (recycleOrCopy). */
  private readonly early = new Map<string, { base: string; donors: Promise<Donor[]> }>();
  readonly dir: string;
  commits = 0;
  private readonly trees: TreeWriter;
  /** Copies of large files made ahead of a commit (prepare.ts). */
  readonly prepared: PreparedCopies;
  /** Large files of a coming restore point written while their chunks arrive (build.ts). */
  readonly builds: PreparedBuilds;

  private constructor(
    root: string,
    private readonly store: ChunkStore,
    private readonly opts: { fsync: boolean; retain: number },
  ) {
    this.dir = path.join(root, 'standby');
    this.trees = new TreeWriter(store, opts);
    this.prepared = new PreparedCopies(store.stages);
    this.builds = new PreparedBuilds(store);
  }

  static async open(
    root: string,
    store: ChunkStore,
    opts: { fsync: boolean; retain: number },
  ): Promise<StandbyManager> {
    const m = new StandbyManager(root, store, opts);
    await fs.promises.mkdir(m.dir, { recursive: true });
    for (const vol of await fs.promises.readdir(m.dir)) {
      const vdir = path.join(m.dir, vol);
      await forceRemove(path.join(vdir, 'tmp'));
      await fs.promises.mkdir(path.join(vdir, 'tmp'), { recursive: true });
      await fs.promises.mkdir(path.join(vdir, 'rp'), { recursive: true });
      await fs.promises.mkdir(path.join(vdir, 'manifests'), { recursive: true });
      await removeTempFiles(vdir);
      await removeTempFiles(path.join(vdir, 'manifests'));
      const trees = new Set(await fs.promises.readdir(path.join(vdir, 'rp')));
      const recs = m.volume(vol);
      for (const f of await fs.promises.readdir(path.join(vdir, 'manifests'))) {
        const id = f.replace(/\.json$/, '');
        if (!trees.has(id)) {
          await fs.promises.rm(path.join(vdir, 'manifests', f), { force: true });
          continue;
        }
        const rec = await readJson<Record_>(path.join(vdir, 'manifests', f));
        recs.set(id, rec);
        store.ref(manifestChunks(rec.manifest).keys());
      }
      const used = new Set([...recs].map(([id, r]) => r.tree ?? id));
      for (const id of trees)
        if (!recs.has(id) && !used.has(id)) await forceRemove(path.join(vdir, 'rp', id));
    }
    return m;
  }

  /** Files commits wrote by recycling a retired restore point's version (tree.ts recycle). */
  get recycledFiles(): number {
    return this.trees.recycled;
  }

  private volume(name: string): Map<string, Record_> {
    let v = this.vols.get(name);
    if (!v) this.vols.set(name, (v = new Map()));
    return v;
  }

  private vdir(volume: string): string {
    if (!isVolumeName(volume))
      throw new AgentError(
        400,
        'bad_request',
        `volume ${JSON.stringify(volume)}: not a valid volume name`,
        false,
      );
    return path.join(this.dir, volume);
  }

  current(volume: string): string | null {
    try {
      const target = fs.readlinkSync(path.join(this.vdir(volume), 'current'));
      return path.basename(target);
    } catch {
      return null;
    }
  }

  private point(volume: string, id: string, rec: Record_): RestorePoint {
    const s = manifestStats(rec.manifest);
    return {
      id,
      volume,
      seq: rec.seq,
      committedAt: rec.committedAt,
      createdAt: rec.manifest.createdAt,
      sourceVolume: rec.manifest.volume,
      files: s.files,
      dirs: s.dirs,
      symlinks: s.symlinks,
      bytes: s.bytes,
      path: path.join(this.vdir(volume), 'rp', id),
    };
  }

  get(volume: string): StandbyInfo {
    const recs = this.vols.get(volume);
    const vdir = this.vdir(volume);
    if (!recs || recs.size === 0) throw notFound(`standby volume ${volume} not found`);
    const restorePoints = [...recs.entries()]
      .map(([id, r]) => this.point(volume, id, r))
      .sort((a, b) => a.seq - b.seq);
    const promoted = this.promotion(volume);
    return {
      volume,
      path: path.join(vdir, 'current'),
      current: this.current(volume),
      restorePoints,
      ...(promoted ? { promoted } : {}),
    };
  }

  /** The last promotion of `volume`, unless the volume it made is gone. */
  private promotion(volume: string): Promotion | undefined {
    try {
      const p = JSON.parse(
        fs.readFileSync(path.join(this.vdir(volume), 'promoted.json'), 'utf8'),
      ) as Promotion;
      return fs.existsSync(p.path) ? p : undefined;
    } catch {
      return undefined;
    }
  }

  list(): StandbyInfo[] {
    return [...this.vols.keys()]
      .filter((v) => (this.vols.get(v)?.size ?? 0) > 0)
      .sort()
      .map((v) => this.get(v));
  }

  /** Per standby volume, when the source took the snapshot of its current restore point. */
  currentSnapshotTimes(): { volume: string; createdAt: string }[] {
    const out: { volume: string; createdAt: string }[] = [];
    for (const [volume, recs] of this.vols) {
      const id = recs.size > 0 ? this.current(volume) : null;
      const rec = id ? recs.get(id) : undefined;
      if (rec) out.push({ volume, createdAt: rec.manifest.createdAt });
    }
    return out;
  }

  manifest(volume: string, id: string): Manifest {
    const rec = this.vols.get(volume)?.get(id);
    if (!rec) throw notFound(`restore point ${id} of standby volume ${volume} not found`);
    return rec.manifest;
  }

  /** Commits a validated manifest as the new current restore point of `volume`. */
  async commit(
    volume: string,
    manifest: Manifest,
    opts: { retain?: number; full?: boolean; pin?: Pin } = {},
  ): Promise<CommitResult> {
    const vdir = this.vdir(volume);
    const retain = Math.max(1, opts.retain ?? this.opts.retain);
    return this.lock.run(volume, async () => {
      const recs = this.volume(volume);
      const cur = this.current(volume);
      const existing = recs.get(manifest.id);
      if (existing) {
        const newest = Math.max(...[...recs.values()].map((r) => r.seq));
        if (cur !== manifest.id) {
          if (existing.seq !== newest) {
            throw new AgentError(
              409,
              'conflict',
              `restore point ${manifest.id} exists and is older than the current one`,
              false,
            );
          }
          await this.switchCurrent(vdir, manifest.id);
        }
        return {
          restorePoint: this.point(volume, manifest.id, existing),
          previous: cur === manifest.id ? null : cur,
          pruned: [],
          filesWritten: 0,
          filesLinked: 0,
          bytesWritten: 0,
          chunksDeleted: 0,
          alreadyCommitted: true,
        };
      }
      const chunks = manifestChunks(manifest);
      const missing: string[] = [];
      let missingCount = 0;
      for (const h of chunks.keys()) {
        if (!this.store.has(h)) {
          missingCount++;
          if (missing.length < MAX_MISSING_LISTED) missing.push(h);
        }
      }
      if (missingCount > 0) {
        throw new AgentError(
          409,
          'missing_chunks',
          `${missingCount} chunk(s) of snapshot ${manifest.id} have not been received`,
          true,
          {
            missing,
            missingCount,
          },
        );
      }
      const pin = opts.pin ?? this.store.pin();
      for (const h of chunks.keys()) pin.add(h);
      // Restore points retired early for this commit's prepared copies (recycleOrCopy).
      const early = this.early.get(volume);
      this.early.delete(volume);
      const earlyDonors = early ? await early.donors : [];
      let donors: Donor[] = [...earlyDonors];
      const retired: string[] = earlyDonors.flatMap((d) => d.ids);
      try {
        await fs.promises.mkdir(path.join(vdir, 'rp'), { recursive: true });
        await fs.promises.mkdir(path.join(vdir, 'manifests'), { recursive: true });
        await fs.promises.mkdir(path.join(vdir, 'tmp'), { recursive: true });
        const prev = cur && !opts.full ? recs.get(cur) : undefined;
        const final = path.join(vdir, 'rp', manifest.id);
        let stats = { filesWritten: 0, filesLinked: 0, bytesWritten: 0 };
        let tree: string | undefined;
        if (prev && sameTree(prev.manifest, manifest)) {
          // Nothing changed since the current restore point: the new one shares its (read-only)
          // tree through a symlink instead of linking every file again.
          tree = prev.tree ?? (cur as string);
          const tmp = path.join(vdir, 'tmp', `${manifest.id}.${newId()}`);
          await fs.promises.symlink(tree, tmp);
          await fs.promises.rename(tmp, final);
        } else {
          const staging = path.join(vdir, 'tmp', `${manifest.id}.${newId()}`);
          donors = prev ? await this.retire(volume, retain) : [];
          retired.push(...donors.flatMap((d) => d.ids));
          donors.unshift(...earlyDonors);
          try {
            stats = await this.trees.materialise(
              staging,
              manifest,
              prev
                ? {
                    dir: path.join(vdir, 'rp', prev.tree ?? (cur as string)),
                    manifest: prev.manifest,
                    prepared: (rel) => this.prepared.take(volume, cur as string, rel),
                    donors,
                  }
                : null,
              (e) => this.builds.take(volume, manifest.id, e),
            );
            await fs.promises.rename(staging, final);
          } catch (err) {
            // A half-built tree (a full disk, a bad entry) gives its space back now, not at the
            // next start of the agent.
            await forceRemove(staging).catch(() => undefined);
            throw err;
          }
        }
        if (this.opts.fsync) fsyncDir(path.dirname(final));
        const seq = Math.max(0, ...[...recs.values()].map((r) => r.seq)) + 1;
        const rec: Record_ = {
          seq,
          committedAt: new Date().toISOString(),
          manifest,
          ...(tree ? { tree } : {}),
        };
        await writeFileAtomic(
          path.join(vdir, 'manifests', `${manifest.id}.json`),
          JSON.stringify(rec),
          this.opts.fsync,
        );
        recs.set(manifest.id, rec);
        this.store.ref(chunks.keys());
        await this.switchCurrent(vdir, manifest.id);
        this.commits++;
        const pruned = [...retired, ...(await this.prune(volume, retain))];
        if (!opts.pin) this.store.release(pin);
        else pin.hashes.clear();
        const { deleted } = await this.store.gc();
        return {
          restorePoint: this.point(volume, manifest.id, rec),
          previous: cur,
          pruned,
          ...stats,
          chunksDeleted: deleted,
          alreadyCommitted: false,
        };
      } finally {
        if (!opts.pin) this.store.release(pin);
        this.prepared.discard(volume);
        this.builds.discard(volume);
        for (const d of donors) this.removeInBackground(d.dir);
      }
    });
  }

  /**
   * Starts copying, from the current restore point of `volume`, the large files among `paths`
   * that the source is about to send changes of (prepare.ts). Returns how many copies it started;
   * 0 when there is no current restore point, or when restore point `forId` (the one the changes
   * belong to) is committed already: the hint came too late.
   */
  prepare(volume: string, paths: readonly string[], forId?: string): number {
    const vdir = this.vdir(volume);
    const cur = this.current(volume);
    const rec = cur ? this.volume(volume).get(cur) : undefined;
    if (!cur || !rec || (forId !== undefined && this.volume(volume).has(forId))) return 0;
    return this.prepared.prepare(
      volume,
      { id: cur, dir: path.join(vdir, 'rp', rec.tree ?? cur), manifest: rec.manifest },
      paths,
      path.join(vdir, 'tmp'),
      (src, file, e) => this.recycleOrCopy(volume, cur, forId, src, file, e),
    );
  }

  /**
   * A prepared copy of the current version `e` of a file (`src`): the version of a restore point
   * the coming commit will retire, patched up to `e` with the chunks that differ (tree.ts
   * recycle), where there is one; else a copy of `src`. The restore points the commit would retire
   * are retired now, once per volume and base (early), so that patching runs while the source is
   * still reading, as a copy would; the commit recycles from them too and deletes them.
   */
  private async recycleOrCopy(
    volume: string,
    cur: string,
    forId: string | undefined,
    src: string,
    file: string,
    e: FileEntry,
  ): Promise<void> {
    let early = this.early.get(volume);
    if (!early || early.base !== cur) {
      const retire = this.lock.run(volume, async () =>
        // A commit ran meanwhile (another base, or the one the hint was for): nothing to retire.
        this.current(volume) === cur && !(forId !== undefined && this.volume(volume).has(forId))
          ? this.retire(volume, this.opts.retain)
          : [],
      );
      early = { base: cur, donors: retire.catch(() => []) };
      this.early.set(volume, early);
    }
    const donors = await early.donors;
    const donated = newestDonated(donors, e.path);
    if (donated && (await this.trees.recycle(file, e, donated)) >= 0) return;
    await copyPrevious(src, file, e.size);
  }

  /**
   * Writes the large files of restore point `forId` of `volume` from the chunks `pieces` name, as
   * they arrive (build.ts). Returns how many files it started; 0 once `forId` is committed (the
   * hint came too late).
   */
  async build(volume: string, forId: string, pieces: readonly BuildPiece[]): Promise<number> {
    if (this.vols.get(volume)?.has(forId)) return 0;
    const tmp = path.join(this.vdir(volume), 'tmp');
    await fs.promises.mkdir(tmp, { recursive: true });
    return this.builds.add(volume, forId, pieces, tmp);
  }

  private removeInBackground(dir: string): void {
    const p = forceRemove(dir)
      .catch(() => undefined)
      .finally(() => this.removing.delete(p));
    this.removing.add(p);
  }

  /**
   * The trees a commit of `volume` may recycle: those of the restore points it will push out of
   * `retain` (the oldest, never the current one) that no kept restore point uses, each with the
   * restore points using it. Oldest first.
   */
  private donorCandidates(
    volume: string,
    retain: number,
  ): Array<{ tree: string; ids: string[]; manifest: Manifest }> {
    const recs = this.volume(volume);
    const cur = this.current(volume);
    const ordered = [...recs.entries()].sort((a, b) => a[1].seq - b[1].seq);
    const leaving = new Set(
      ordered
        .slice(0, Math.max(0, recs.size + 1 - retain))
        .map(([id]) => id)
        .filter((id) => id !== cur),
    );
    const users = new Map<string, string[]>();
    for (const [id, r] of ordered) {
      const tree = r.tree ?? id;
      users.set(tree, [...(users.get(tree) ?? []), id]);
    }
    return [...users]
      .filter(([, ids]) => ids.every((id) => leaving.has(id)))
      .map(([tree, ids]) => ({ tree, ids, manifest: (recs.get(ids[0] as string) as Record_).manifest }));
  }

  /**
   * Retires, before a commit builds its tree, the restore points that commit would prune after it
   * (donorCandidates), so that the new tree can recycle their large files: patching the copy of a
   * file two or more restore points old costs the chunks that changed since, where copying the
   * current version costs the whole file (tree.ts recycle). The manifests go first (a restore
   * point without one no longer exists, and `open` removes its tree), then the tree moves to tmp/
   * (emptied on start), where the commit takes what it recycles and deletes the rest. Should the
   * commit fail, those restore points are gone a commit early: retain - 1 remain.
   */
  private async retire(volume: string, retain: number): Promise<Donor[]> {
    const vdir = this.vdir(volume);
    const recs = this.volume(volume);
    const donors: Donor[] = [];
    for (const { tree, ids, manifest } of this.donorCandidates(volume, retain)) {
      for (const id of ids) {
        await fs.promises.rm(path.join(vdir, 'manifests', `${id}.json`), { force: true });
        const rec = recs.get(id) as Record_;
        recs.delete(id);
        this.store.unref(manifestChunks(rec.manifest).keys());
        if (id !== tree) await fs.promises.rm(path.join(vdir, 'rp', id), { force: true });
      }
      const dir = path.join(vdir, 'tmp', `donor-${tree}-${newId()}`);
      const moved = await fs.promises
        .rename(path.join(vdir, 'rp', tree), dir)
        .then(() => true)
        .catch(() => false);
      if (moved) donors.push({ ids, dir, manifest });
    }
    return donors;
  }

  private async switchCurrent(vdir: string, id: string): Promise<void> {
    const link = path.join(vdir, 'current');
    const tmp = `${link}.tmp-${process.pid}-${newId()}`;
    await fs.promises.symlink(path.join('rp', id), tmp);
    await fs.promises.rename(tmp, link);
    if (this.opts.fsync) fsyncDir(vdir);
  }

  private async prune(volume: string, retain: number): Promise<string[]> {
    const recs = this.volume(volume);
    const cur = this.current(volume);
    const ordered = [...recs.entries()].sort((a, b) => a[1].seq - b[1].seq);
    const excess = ordered.slice(0, Math.max(0, ordered.length - retain)).filter(([id]) => id !== cur);
    const vdir = this.vdir(volume);
    const pruned: string[] = [];
    for (const [id, rec] of excess) {
      await fs.promises.rm(path.join(vdir, 'manifests', `${id}.json`), { force: true });
      recs.delete(id);
      this.store.unref(manifestChunks(rec.manifest).keys());
      const tree = rec.tree ?? id;
      const used = [...recs].some(([rid, r]) => (r.tree ?? rid) === tree);
      // its own symlink (a shared tree), then the tree itself once no restore point uses it
      if (tree !== id) await fs.promises.rm(path.join(vdir, 'rp', id), { force: true });
      if (!used && !recs.has(tree)) {
        const trash = path.join(vdir, 'tmp', `trash-${tree}-${newId()}`);
        const moved = await fs.promises
          .rename(path.join(vdir, 'rp', tree), trash)
          .then(() => true)
          .catch(() => false);
        // Deleting the files is off the commit's path: the tree is already out of rp/ (and
        // tmp/ is emptied on start should the agent stop before this finishes).
        if (moved) this.removeInBackground(trash);
      }
      pruned.push(id);
    }
    return pruned;
  }

  /**
   * Failover: copies a restore point (default: current) into a writable volume under
   * `<root>/volumes/<target>` (reflinks where the filesystem supports it) and records the
   * promotion. A target that exists is refused, unless `replace`: then it is moved aside to
   * `<root>/volumes/.replaced/<target>-<time>` (kept for the operator, never deleted here) in
   * the same instant the promoted copy takes its place. Failback needs this: the old active
   * side's volume is still there, holding data from before the failover.
   */
  async promote(
    volume: string,
    volumesDir: string,
    opts: { restorePoint?: string; target?: string; replace?: boolean } = {},
  ): Promise<{ volume: string; path: string; restorePoint: string; replaced?: string }> {
    const vdir = this.vdir(volume);
    const id = opts.restorePoint ?? this.current(volume);
    if (!id) throw notFound(`standby volume ${volume} has no restore point`);
    this.manifest(volume, id);
    const target = opts.target ?? volume;
    if (!isVolumeName(target))
      throw new AgentError(
        400,
        'bad_request',
        `target ${JSON.stringify(target)}: not a valid volume name`,
        false,
      );
    const dest = path.join(volumesDir, target);
    if (fs.existsSync(dest) && !opts.replace)
      throw new AgentError(409, 'conflict', `volume ${target} already exists`, false);
    const tmp = `${dest}.tmp-${process.pid}-${newId()}`;
    await fs.promises.cp(await fs.promises.realpath(path.join(vdir, 'rp', id)), tmp, {
      recursive: true,
      preserveTimestamps: true,
      verbatimSymlinks: true,
      mode: fs.constants.COPYFILE_FICLONE,
    });
    const at = new Date().toISOString();
    let replaced: string | undefined;
    if (fs.existsSync(dest)) {
      const aside = path.join(volumesDir, '.replaced');
      await fs.promises.mkdir(aside, { recursive: true });
      replaced = path.join(aside, `${target}-${at.replace(/[:.]/g, '')}`);
      await fs.promises.rename(dest, replaced);
    }
    await fs.promises.rename(tmp, dest);
    await fsyncDir(volumesDir);
    const record: Promotion = { restorePoint: id, path: dest, at, ...(replaced ? { replaced } : {}) };
    await writeFileAtomic(path.join(vdir, 'promoted.json'), JSON.stringify(record));
    return { volume: target, path: dest, restorePoint: id, ...(replaced ? { replaced } : {}) };
  }
}

/** Same entries in the same order and the same root mode: the materialised trees are identical. */
function sameTree(a: Manifest, b: Manifest): boolean {
  if (a.rootMode !== b.rootMode || a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++)
    if (!sameEntry(a.entries[i] as Entry, b.entries[i] as Entry)) return false;
  return true;
}

/** rm -rf that also works on trees containing directories without write/execute permission. */
export async function forceRemove(dir: string): Promise<void> {
  const fix = async (d: string): Promise<void> => {
    await fs.promises.chmod(d, 0o700).catch(() => undefined);
    const list = await fs.promises.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of list) if (e.isDirectory()) await fix(path.join(d, e.name));
  };
  const st = await fs.promises.lstat(dir).catch(() => null);
  if (!st) return;
  if (st.isDirectory()) await fix(dir);
  await fs.promises.rm(dir, { recursive: true, force: true });
}

/** The newest of `donors` (oldest first) holding file `rel`, with its entry there. */
function newestDonated(donors: readonly Donor[], rel: string): { path: string; entry: FileEntry } | null {
  for (let i = donors.length - 1; i >= 0; i--) {
    const d = donors[i] as Donor;
    const e = d.manifest.entries.find((x) => x.path === rel);
    if (e?.type === 'file') return { path: path.join(d.dir, rel), entry: e };
  }
  return null;
}
