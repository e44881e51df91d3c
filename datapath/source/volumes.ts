// Source side: the agent's volumes (directories under `<root>/volumes/<handle>`, which a PV names
// by its volume handle) and their snapshots (`<root>/snapshots/<volume>/<id>.json`: manifest with
// stat identities + stats). Each volume keeps its last `retain` snapshots (the newest is the
// parent of the next incremental one); a snapshot leased by a running replication is never pruned.
// Snapshots of one volume are taken one at a time.
import fs from 'node:fs';
import path from 'node:path';
import type { Chunker } from '../store/chunker.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { AgentError, badRequest, notFound } from '../errors.js';
import { KeyedMutex, newId, removeTempFiles, writeFileAtomic } from '../fs-util.js';
import type { Entry, FileEntry, Manifest } from '../protocol/manifest.js';
import {
  chunkLists,
  isVolumeName,
  manifestChunks,
  manifestStats,
  reloadedLists,
} from '../protocol/manifest.js';
import { sameEntry } from '../protocol/manifest-delta.js';
import { entriesJsonOf, KeptEntries, recordJson } from '../protocol/record-json.js';
import type { ChunkEvent, SnapshotOptions, SnapshotProgress, SnapshotStats } from './snapshot.js';
import { chainHash, takeSnapshot } from './snapshot.js';
import type { HashAlgorithm } from '../store/hash.js';

export interface SnapshotSummary {
  id: string;
  volume: string;
  parent: string | null;
  full: boolean;
  createdAt: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  chunks: number;
  uniqueChunks: number;
  stats: SnapshotStats;
}

interface StoredSnapshot {
  manifest: Manifest;
  summary: SnapshotSummary;
}

export interface VolumeInfo {
  name: string;
  path: string;
  snapshots: SnapshotSummary[];
}

export interface TakeOptions {
  full?: boolean;
  parent?: string;
  onProgress?: (p: SnapshotProgress) => void;
  /** Streaming hook, see SnapshotOptions.onChunk: each distinct chunk read, once it is in the store. */
  onChunk?: (c: ChunkEvent) => void;
  /** See SnapshotOptions.onReread: each changed file of the parent, before it is read. */
  onReread?: (path: string, size: number, snapshotId: string) => void;
  /** See SnapshotOptions.onFileChunks: a new large file's chunks, as it is cut. */
  onFileChunks?: SnapshotOptions['onFileChunks'];
  /** See SnapshotOptions.onRereadChunks: a changed large file's chunks, as it is cut again. */
  onRereadChunks?: SnapshotOptions['onRereadChunks'];
  /**
   * Leave the compaction of packs the pruned snapshots leave half dead to the caller, which calls
   * compact() once it is done. Why: take() prunes before it returns, and compacting moves live
   * chunks synchronously; a replication took it on its path (512 MiB pages-1pct-steady: 150-260 ms
   * of a 1.4 s run, one to three packs compacted), where after the replication the agent is idle.
   */
  deferCompaction?: boolean;
  signal?: AbortSignal;
}

export class SnapshotManager {
  private readonly snaps = new Map<string, Map<string, StoredSnapshot>>();
  private readonly leases = new Map<string, number>();
  private readonly lock = new KeyedMutex();
  /** Per volume, the JSON of its newest snapshot's entries, when known (record-json.ts). */
  private readonly entriesJson = new KeptEntries();
  readonly volumesDir: string;
  readonly snapshotsDir: string;
  snapshotsTaken = 0;
  snapshotSeconds = 0;
  snapshotBytesRead = 0;

  private constructor(
    root: string,
    private readonly store: ChunkStore,
    private readonly chunker: Chunker,
    private readonly opts: { retain: number; compress: boolean; fsync: boolean; hash?: HashAlgorithm },
  ) {
    this.volumesDir = path.join(root, 'volumes');
    this.snapshotsDir = path.join(root, 'snapshots');
  }

  static async open(
    root: string,
    store: ChunkStore,
    chunker: Chunker,
    opts: { retain: number; compress: boolean; fsync: boolean; hash?: HashAlgorithm },
  ): Promise<SnapshotManager> {
    const m = new SnapshotManager(root, store, chunker, opts);
    await fs.promises.mkdir(m.volumesDir, { recursive: true });
    await fs.promises.mkdir(m.snapshotsDir, { recursive: true });
    for (const vol of await fs.promises.readdir(m.snapshotsDir)) {
      const dir = path.join(m.snapshotsDir, vol);
      await removeTempFiles(dir);
      const lists = reloadedLists();
      const files = (await fs.promises.readdir(dir)).filter((f) => f.endsWith('.json')).sort();
      for (const [i, f] of files.entries()) {
        const text = await fs.promises.readFile(path.join(dir, f), 'utf8');
        const s = JSON.parse(text) as StoredSnapshot;
        m.volume(vol).set(s.summary.id, s);
        store.refLists(lists(s.manifest));
        // ids sort by time: the last is the newest, the parent of the next snapshot
        if (i === files.length - 1) m.entriesJson.keep(vol, s.summary.id, entriesJsonOf(text));
      }
    }
    return m;
  }

  private volume(name: string): Map<string, StoredSnapshot> {
    let v = this.snaps.get(name);
    if (!v) this.snaps.set(name, (v = new Map()));
    return v;
  }

  volumePath(name: string): string {
    if (!isVolumeName(name)) throw badRequest(`volume ${JSON.stringify(name)}: not a valid volume name`);
    return path.join(this.volumesDir, name);
  }

  async createVolume(name: string): Promise<VolumeInfo> {
    const p = this.volumePath(name);
    await fs.promises.mkdir(p, { recursive: true });
    return this.getVolume(name);
  }

  async listVolumes(): Promise<VolumeInfo[]> {
    const names = (await fs.promises.readdir(this.volumesDir)).filter(isVolumeName).sort();
    return Promise.all(names.map((n) => this.getVolume(n)));
  }

  async getVolume(name: string): Promise<VolumeInfo> {
    const p = this.volumePath(name);
    const st = await fs.promises.lstat(p).catch(() => null);
    if (!st?.isDirectory()) throw notFound(`volume ${name} not found`);
    return { name, path: p, snapshots: this.list(name) };
  }

  list(volume: string): SnapshotSummary[] {
    return [...(this.snaps.get(volume)?.values() ?? [])]
      .map((s) => s.summary)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  private find(volume: string, id: string): StoredSnapshot {
    const s = this.snaps.get(volume)?.get(id);
    if (!s) throw notFound(`snapshot ${id} of volume ${volume} not found`);
    return s;
  }

  get(volume: string, id: string): SnapshotSummary {
    return this.find(volume, id).summary;
  }

  manifest(volume: string, id: string): Manifest {
    return this.find(volume, id).manifest;
  }

  /** The manifest of snapshot `id` of any volume, if this agent still has it. */
  manifestById(id: string): Manifest | undefined {
    for (const v of this.snaps.values()) {
      const s = v.get(id);
      if (s) return s.manifest;
    }
    return undefined;
  }

  latest(volume: string): SnapshotSummary | undefined {
    return this.list(volume).at(-1);
  }

  /** Keeps snapshot `id` from being pruned or deleted until the returned function is called. */
  lease(volume: string, id: string): () => void {
    this.find(volume, id);
    const key = `${volume}/${id}`;
    this.leases.set(key, (this.leases.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.leases.get(key) ?? 1) - 1;
      if (n > 0) this.leases.set(key, n);
      else this.leases.delete(key);
    };
  }

  /** The hash the volume's next snapshot will use (its latest's, else this agent's default). */
  nextHash(volume: string): HashAlgorithm {
    return chainHash(this.latestManifest(volume), this.opts.hash);
  }

  async take(volume: string, opts: TakeOptions = {}): Promise<SnapshotSummary> {
    const dir = this.volumePath(volume);
    return this.lock.run(volume, async () => {
      const st = await fs.promises.lstat(dir).catch(() => null);
      if (!st?.isDirectory()) throw notFound(`volume ${volume} not found`);
      const parent = opts.parent ? this.find(volume, opts.parent).manifest : this.latestManifest(volume);
      const id = newId();
      const pin = this.store.pin();
      try {
        const { manifest, stats } = await takeSnapshot(dir, {
          id,
          volume,
          full: opts.full ?? false,
          parent: parent ?? null,
          store: this.store,
          chunker: this.chunker,
          pin,
          compress: this.opts.compress,
          ...(this.opts.hash ? { hash: this.opts.hash } : {}),
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
          ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
          ...(opts.onReread ? { onReread: opts.onReread } : {}),
          ...(opts.onFileChunks ? { onFileChunks: opts.onFileChunks } : {}),
          ...(opts.onRereadChunks ? { onRereadChunks: opts.onRereadChunks } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const ms = manifestStats(manifest);
        const parentSummary = parent ? this.snaps.get(volume)?.get(parent.id)?.summary : undefined;
        const summary: SnapshotSummary = {
          id,
          volume,
          parent: manifest.parent,
          full: manifest.full,
          createdAt: manifest.createdAt,
          ...ms,
          uniqueChunks:
            parent && parentSummary && sameLists(parent, manifest)
              ? parentSummary.uniqueChunks
              : manifestChunks(manifest).size,
          stats,
        };
        const vdir = path.join(this.snapshotsDir, volume);
        await fs.promises.mkdir(vdir, { recursive: true });
        // Nothing changed since the parent: its entries' JSON is this snapshot's (record-json.ts).
        const kept = parent ? this.entriesJson.of(volume, parent.id) : undefined;
        const entriesJson =
          kept !== undefined && sameRecordedEntries(parent as Manifest, manifest)
            ? kept
            : JSON.stringify(manifest.entries);
        await writeFileAtomic(
          path.join(vdir, `${id}.json`),
          recordJson({ manifest, summary }, entriesJson),
          this.opts.fsync,
        );
        this.entriesJson.keep(volume, id, entriesJson);
        this.volume(volume).set(id, { manifest, summary });
        this.store.refLists(chunkLists(manifest));
        this.snapshotsTaken++;
        this.snapshotSeconds += stats.durationMs / 1000;
        this.snapshotBytesRead += stats.bytesRead;
        await this.prune(volume, !opts.deferCompaction);
        return summary;
      } finally {
        this.store.release(pin);
      }
    });
  }

  private latestManifest(volume: string): Manifest | undefined {
    const l = this.latest(volume);
    return l ? this.find(volume, l.id).manifest : undefined;
  }

  private async prune(volume: string, compact: boolean): Promise<void> {
    const all = this.list(volume);
    const excess = all.slice(0, Math.max(0, all.length - this.opts.retain));
    for (const s of excess) if (!this.leases.has(`${volume}/${s.id}`)) await this.remove(volume, s.id);
    await this.store.gc({ compact });
  }

  /** Collects garbage, compacting packs: what a take() with deferCompaction left. */
  compact(): ReturnType<ChunkStore['gc']> {
    return this.store.gc();
  }

  private async remove(volume: string, id: string): Promise<void> {
    const s = this.find(volume, id);
    await fs.promises.rm(path.join(this.snapshotsDir, volume, `${id}.json`), { force: true });
    this.snaps.get(volume)?.delete(id);
    if (this.entriesJson.of(volume, id) !== undefined) this.entriesJson.forget(volume);
    this.store.unrefLists(chunkLists(s.manifest));
  }

  async delete(volume: string, id: string): Promise<void> {
    await this.lock.run(volume, async () => {
      this.find(volume, id);
      if (this.leases.has(`${volume}/${id}`)) {
        throw new AgentError(409, 'conflict', `snapshot ${id} is in use by a running replication`, false);
      }
      await this.remove(volume, id);
      await this.store.gc();
    });
  }
}

/**
 * Whether `b`'s entries are `a`'s, stat identities included (what a snapshot record holds): a
 * snapshot that reused every file of its parent and found every folder and symlink as it was.
 */
export function sameRecordedEntries(a: Manifest, b: Manifest): boolean {
  if (a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++) {
    const x = a.entries[i] as Entry;
    const y = b.entries[i] as Entry;
    if (!sameEntry(x, y)) return false;
    if (x.type === 'file') {
      const s = x.stat;
      const t = (y as FileEntry).stat;
      if (s !== t && (!s || !t || s.ino !== t.ino || s.mtimeNs !== t.mtimeNs || s.ctimeNs !== t.ctimeNs))
        return false;
    }
  }
  return true;
}

/**
 * Whether `b`'s files have `a`'s chunk lists, the same objects in the same order (a snapshot that
 * reused every file of its parent): then they reference the same distinct chunks.
 */
function sameLists(a: Manifest, b: Manifest): boolean {
  const lists = [...chunkLists(a)];
  let i = 0;
  for (const l of chunkLists(b)) if (l !== lists[i++]) return false;
  return i === lists.length;
}
