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
// A commit that will push restore points out of `retain` retires them before it builds, and a
// changed large file of the new tree is made by patching such a retired version of it instead of
// copying the current version whole: retention.ts (which restore points leave, and how).
//
// Chunks of large files written straight from the wire (build.ts) are kept only in the restore
// points' files: `files` indexes them (file-chunks.ts), rebuilt on open from the manifests, and is
// the chunk store's `elsewhere`; a tree leaving (retire, prune) first moves or saves its chunks.
//
// Materialising (building a new tree in tmp/) is tree.ts's TreeWriter. Because it hard-links
// unchanged files, restore points must not be written to: a failover promotes a restore point into
// a writable volume, a copy (promote.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { AgentError, notFound } from '../errors.js';
import { AfterAnswer, fsyncDir, KeyedMutex, newId, removeTempFiles, writeFileAtomic } from '../fs-util.js';
import type { Entry, FileEntry, Manifest } from '../protocol/manifest.js';
import {
  chunkLists,
  chunksOutside,
  isVolumeName,
  manifestStats,
  reloadedLists,
} from '../protocol/manifest.js';
import { sameEntry } from '../protocol/manifest-delta.js';
import { copyPrevious, mayRecycle, TreeWriter } from './tree.js';
import { entriesJsonOf, KeptEntries, recordJson } from '../protocol/record-json.js';
import { lastPromotion, type Promoted, type Promotion, promoteRestorePoint } from './promote.js';
import {
  type Donor,
  type Leaving,
  forceRemove,
  newestDonated,
  type PointRecord,
  prune,
  removeInBackground,
  retire,
  type VolumeState,
} from './retention.js';
import { PreparedCopies } from './prepare.js';
import { PreparedBuilds } from './build.js';
import { KnownRanges } from './known-ranges.js';
import { FileChunks } from './file-chunks.js';
import type { BuildPiece } from '../protocol/build-hints.js';
import { VOLUME_LOCK_WAIT } from '../protocol/agent-api.js';
import { CommitWaits } from './commit-waits.js';

export interface StandbyOptions {
  /** fsync restore points and their records before switching to them. */
  fsync: boolean;
  /** Restore points kept per volume (a commit may ask for another number). */
  retain: number;
  /** Told of failures no request waits for (giving back pruned restore points after a commit). */
  onError?: (what: string, err: unknown) => void;
}

export type { Promotion } from './promote.js';

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
  /** Commits of this volume under way (queued ones included), oldest first. */
  committing?: CommitProgress[];
}

/** A commit under way, and what it waits for now (commit-waits.ts). */
export interface CommitProgress {
  volume: string;
  restorePoint: string;
  /** Since the commit was asked for. */
  elapsedMs: number;
  /** Its longest-pending await, or null while it is working. */
  waitingFor: string | null;
  waitedMs: number;
}

export interface CommitResult {
  restorePoint: RestorePoint;
  previous: string | null;
  pruned: string[];
  filesWritten: number;
  filesLinked: number;
  bytesWritten: number;
  /**
   * Always 0 now: the chunks a commit frees are collected after it has answered (releaseAfter);
   * the agent's ferry_agent_chunk_store_chunks_deleted_total counts them. Kept for older readers.
   */
  chunksDeleted: number;
  alreadyCommitted: boolean;
}

const MAX_MISSING_LISTED = 10_000;

export class StandbyManager {
  private readonly vols = new Map<string, Map<string, PointRecord>>();
  private readonly lock = new KeyedMutex();
  /** Per volume, restore points retired ahead of a commit, from base restore point `base` (recycleOrCopy). */
  private readonly early = new Map<string, { base: string; donors: Promise<Donor[]> }>();
  /** Commits under way, in the order they were asked for. */
  private readonly committing = new Set<CommitWaits>();
  /** Per volume, the release of what its commits pruned, with the garbage collection after it. */
  private readonly after: AfterAnswer;
  /** Per volume, the JSON of its current restore point's entries, when known (record-json.ts). */
  private readonly entriesJson = new KeptEntries();
  readonly dir: string;
  commits = 0;
  private readonly trees: TreeWriter;
  /** Copies of large files made ahead of a commit (prepare.ts). */
  readonly prepared: PreparedCopies;
  /** Large files of a coming restore point written while their chunks arrive (build.ts). */
  readonly builds: PreparedBuilds;
  /** What received deltas said about their chunks; the receive route fills it, patches read it. */
  readonly ranges = new KnownRanges();
  /** Chunks kept in restore-point files, not in packs (file-chunks.ts). */
  readonly files: FileChunks;

  private constructor(
    root: string,
    private readonly store: ChunkStore,
    private readonly opts: StandbyOptions,
  ) {
    this.dir = path.join(root, 'standby');
    this.after = new AfterAnswer(this.lock, opts.onError);
    this.trees = new TreeWriter(store, opts, this.ranges);
    this.prepared = new PreparedCopies(store.stages);
    this.builds = new PreparedBuilds(store);
    this.files = new FileChunks((h) => store.has(h));
    this.files.pending = this.builds;
    store.elsewhere = this.files;
  }

  static async open(root: string, store: ChunkStore, opts: StandbyOptions): Promise<StandbyManager> {
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
      const cur = m.current(vol);
      for (const f of await fs.promises.readdir(path.join(vdir, 'manifests'))) {
        const id = f.replace(/\.json$/, '');
        if (!trees.has(id)) {
          await fs.promises.rm(path.join(vdir, 'manifests', f), { force: true });
          continue;
        }
        const text = await fs.promises.readFile(path.join(vdir, 'manifests', f), 'utf8');
        recs.set(id, JSON.parse(text) as PointRecord);
        if (id === cur) m.entriesJson.keep(vol, id, entriesJsonOf(text));
      }
      const used = new Set([...recs].map(([id, r]) => r.tree ?? id));
      for (const id of trees)
        if (!recs.has(id) && !used.has(id)) await forceRemove(path.join(vdir, 'rp', id));
      const lists = reloadedLists();
      for (const [id, r] of [...recs].sort((a, b) => a[1].seq - b[1].seq)) {
        store.refLists(lists(r.manifest));
        m.files.index(path.join(vdir, 'rp', r.tree ?? id), r.manifest);
      }
    }
    return m;
  }

  /** Files commits wrote by recycling a retired restore point's version (tree.ts recycle). */
  get recycledFiles(): number {
    return this.trees.recycled;
  }

  private volume(name: string): Map<string, PointRecord> {
    let v = this.vols.get(name);
    if (!v) this.vols.set(name, (v = new Map()));
    return v;
  }

  /** `volume` as retention.ts sees it. */
  private state(volume: string): VolumeState {
    const vdir = this.vdir(volume);
    const recs = this.volume(volume);
    return {
      vdir,
      recs,
      current: this.current(volume),
      leaving: async (treeDir) => {
        // the trees still kept, newest first, are where the leaving one's chunks may move
        const kept = [...recs]
          .sort((a, b) => b[1].seq - a[1].seq)
          .map(([id, r]) => ({ tree: path.join(vdir, 'rp', r.tree ?? id), manifest: r.manifest }))
          .filter((k) => k.tree !== treeDir);
        const saved = await this.files.leave(treeDir, kept, (h) => this.store.wanted(h));
        for (const { hex, raw } of saved) if (raw) await this.store.put(hex, raw, { compress: true });
      },
    };
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

  /**
   * Gives back what a commit of `volume` pruned (retention.ts Leaving.release) and collects the
   * chunks nothing uses any more, once that commit has answered (AfterAnswer: on the volume's
   * lock, so the next commit of it, or an early retire, waits for it). Why: releasing the chunk
   * references of a pruned restore point and moving the chunks kept only in its files took 25-35
   * ms of a 2 GiB benchmark commit's 60-120 ms, on the path of every replication. Its records went
   * before the answer, so no read sees a pruned restore point. A failure is reported to onError;
   * the chunks stay referenced until the agent's next start recounts them, the tree is removed
   * then too.
   */
  private releaseAfter(volume: string, leaving: Leaving): void {
    this.after.queue(volume, `releasing restore points ${leaving.ids.join(', ')} of ${volume}`, async () => {
      await leaving.release();
      await this.store.gc();
    });
  }

  /**
   * Resolves once what the commits of `volume` (or of every volume) pruned has been given back and
   * collected: the store then holds only what kept restore points use (tests, shutdown).
   */
  settled(volume?: string): Promise<void> {
    return this.after.settled(volume);
  }

  current(volume: string): string | null {
    try {
      const target = fs.readlinkSync(path.join(this.vdir(volume), 'current'));
      return path.basename(target);
    } catch {
      return null;
    }
  }

  private point(volume: string, id: string, rec: PointRecord): RestorePoint {
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

  /** A volume with restore points, or with a commit under way (its first one: no restore point yet). */
  get(volume: string): StandbyInfo {
    const recs = this.vols.get(volume) ?? new Map<string, PointRecord>();
    const vdir = this.vdir(volume);
    const committing = this.commitsUnderWay().filter((c) => c.volume === volume);
    if (recs.size === 0 && committing.length === 0) throw notFound(`standby volume ${volume} not found`);
    const restorePoints = [...recs.entries()]
      .map(([id, r]) => this.point(volume, id, r))
      .sort((a, b) => a.seq - b.seq);
    const promoted = lastPromotion(vdir);
    return {
      volume,
      path: path.join(vdir, 'current'),
      current: this.current(volume),
      restorePoints,
      ...(promoted ? { promoted } : {}),
      ...(committing.length > 0 ? { committing } : {}),
    };
  }

  /** Every commit under way, oldest first, with what each waits for. */
  commitsUnderWay(now = Date.now()): CommitProgress[] {
    return [...this.committing].map((w) => {
      const o = w.oldest();
      return {
        volume: w.volume,
        restorePoint: w.restorePoint,
        elapsedMs: now - w.started,
        waitingFor: o?.what ?? null,
        waitedMs: o ? now - o.since : 0,
      };
    });
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
    const waits = new CommitWaits(volume, manifest.id);
    this.committing.add(waits);
    let entered!: () => void;
    const locked = waits.track(VOLUME_LOCK_WAIT, new Promise<void>((r) => (entered = r)));
    try {
      return await this.lock.run(volume, async () => {
        entered();
        await locked;
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
        const prev = cur && !opts.full ? recs.get(cur) : undefined;
        // Nothing changed since the current restore point: the new one shares its tree (below), and
        // its chunks are those of the current one, which keeps them until this one references them.
        const unchanged = prev !== undefined && sameTree(prev.manifest, manifest);
        // chunks the builds took from the wire count once their files are whole
        await waits.track(
          'large files written as their chunks arrive',
          this.builds.settle(volume, manifest.id),
        );
        // The chunks to check and pin: not those of the files unchanged since the current restore
        // point (the lists it shares), which it keeps referenced until this one does. On the 2 GiB
        // benchmark's touched volume that is 1,000 files' chunks instead of 35,000 (~40 ms).
        const chunks = unchanged ? null : chunksOutside(manifest, prev?.manifest);
        const missing: string[] = [];
        let missingCount = 0;
        for (const h of chunks?.keys() ?? []) {
          if (!this.store.holds(h)) {
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
        for (const h of chunks?.keys() ?? []) pin.add(h);
        // Restore points retired early for this commit's prepared copies (recycleOrCopy).
        const early = this.early.get(volume);
        this.early.delete(volume);
        const earlyDonors = early ? await waits.track('restore points retired early', early.donors) : [];
        let donors: Donor[] = [...earlyDonors];
        const retired: string[] = earlyDonors.flatMap((d) => d.ids);
        try {
          await fs.promises.mkdir(path.join(vdir, 'rp'), { recursive: true });
          await fs.promises.mkdir(path.join(vdir, 'manifests'), { recursive: true });
          await fs.promises.mkdir(path.join(vdir, 'tmp'), { recursive: true });
          const final = path.join(vdir, 'rp', manifest.id);
          let stats = { filesWritten: 0, filesLinked: 0, bytesWritten: 0 };
          let tree: string | undefined;
          if (prev && unchanged) {
            // The new restore point shares the current one's (read-only) tree through a symlink
            // instead of linking every file again.
            tree = prev.tree ?? (cur as string);
            const tmp = path.join(vdir, 'tmp', `${manifest.id}.${newId()}`);
            await fs.promises.symlink(tree, tmp);
            await fs.promises.rename(tmp, final);
          } else {
            const staging = path.join(vdir, 'tmp', `${manifest.id}.${newId()}`);
            // Retired first only when a changed large file may be made from a retired version
            // (recycle); else the restore points leave after the commit has answered (releaseAfter).
            donors =
              prev && mayRecycle(prev.manifest, manifest)
                ? await waits.track('retiring restore points', retire(this.state(volume), retain, this.store))
                : [];
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
                      prepared: (rel) =>
                        waits.track(
                          `prepared copy of ${rel}`,
                          this.prepared.take(volume, cur as string, rel),
                        ),
                      donors,
                    }
                  : null,
                (e) => waits.track(`written-ahead file ${e.path}`, this.builds.take(volume, manifest.id, e)),
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
          const rec: PointRecord = {
            seq,
            committedAt: new Date().toISOString(),
            manifest,
            ...(tree ? { tree } : {}),
          };
          // Nothing changed: the entries' JSON is the current restore point's (record-json.ts).
          const kept = unchanged ? this.entriesJson.of(volume, cur) : undefined;
          const entriesJson = kept ?? JSON.stringify(manifest.entries);
          await writeFileAtomic(
            path.join(vdir, 'manifests', `${manifest.id}.json`),
            recordJson(rec, entriesJson),
            this.opts.fsync,
          );
          recs.set(manifest.id, rec);
          this.store.refLists(chunkLists(manifest)); // with its record: prune releases what this took
          if (!tree) this.files.index(final, manifest);
          await this.switchCurrent(vdir, manifest.id);
          this.entriesJson.keep(volume, manifest.id, entriesJson);
          this.commits++;
          const leaving = await prune(this.state(volume), retain, this.store);
          if (!opts.pin) this.store.release(pin);
          else pin.clear();
          this.releaseAfter(volume, leaving);
          return {
            restorePoint: this.point(volume, manifest.id, rec),
            previous: cur,
            pruned: [...retired, ...leaving.ids],
            ...stats,
            chunksDeleted: 0,
            alreadyCommitted: false,
          };
        } finally {
          if (!opts.pin) this.store.release(pin);
          this.prepared.discard(volume);
          this.builds.discard(volume);
          for (const d of donors) removeInBackground(d.dir);
        }
      });
    } finally {
      this.committing.delete(waits);
    }
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
      // A commit of this volume may hold its lock and wait for this very copy (tree.ts patchFile
      // takes the prepared copies): retiring behind that lock would wait for the commit, and the
      // commit for this copy, for ever. A hint that arrives then (the source names its changed
      // files again as its transfer starts) is only copied. Seen under load: the commit of
      // test/agents/replicate.test.ts's second replication hung in 1 of 2-9 runs. Waiting behind
      // the release a commit left (releaseAfter) is safe: it waits for no copy.
      if ([...this.committing].some((w) => w.volume === volume)) return copyPrevious(src, file, e.size);
      const retiring = this.lock.run(volume, async () =>
        // A commit ran meanwhile (another base, or the one the hint was for): nothing to retire.
        this.current(volume) === cur && !(forId !== undefined && this.volume(volume).has(forId))
          ? retire(this.state(volume), this.opts.retain, this.store)
          : [],
      );
      early = { base: cur, donors: retiring.catch(() => []) };
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

  private async switchCurrent(vdir: string, id: string): Promise<void> {
    const link = path.join(vdir, 'current');
    const tmp = `${link}.tmp-${process.pid}-${newId()}`;
    await fs.promises.symlink(path.join('rp', id), tmp);
    await fs.promises.rename(tmp, link);
    if (this.opts.fsync) fsyncDir(vdir);
  }

  /**
   * Failover: copies a restore point (default: current) into a writable volume under
   * `<root>/volumes/<target>` (promote.ts). A target that exists is refused unless `replace`.
   */
  async promote(
    volume: string,
    volumesDir: string,
    opts: { restorePoint?: string; target?: string; replace?: boolean } = {},
  ): Promise<Promoted> {
    const id = opts.restorePoint ?? this.current(volume);
    if (!id) throw notFound(`standby volume ${volume} has no restore point`);
    this.manifest(volume, id);
    return promoteRestorePoint(
      this.vdir(volume),
      id,
      volumesDir,
      opts.target ?? volume,
      opts.replace === true,
    );
  }
}

/** Same entries in the same order and the same root mode: the materialised trees are identical. */
function sameTree(a: Manifest, b: Manifest): boolean {
  if (a.rootMode !== b.rootMode || a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++)
    if (!sameEntry(a.entries[i] as Entry, b.entries[i] as Entry)) return false;
  return true;
}
