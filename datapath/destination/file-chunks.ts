// Destination side: chunks kept in restore-point files instead of packs.
//
// A large new file is written while its chunks arrive (build.ts); a chunk the builder takes
// straight from the wire is written into that file and nowhere else, so a full copy writes each
// byte of a large file once instead of twice (a pack record, then the file). Such a chunk stays
// readable (later deltas use it as a base, `have` answers for it, other files of the tree may
// share it) from the restore-point files that hold it: this index maps each chunk that is not in a
// pack to one place (file, offset, length) in a kept restore point's large file, the newest one
// holding it. It is not written anywhere: restore points and manifests are the durable state, and
// StandbyManager.open rebuilds it from them. Before their commit, chunks taken by a build are
// found through `pending` (the builds themselves).
//
// Restore points are never written to, with one exception: a retired one, whose files a commit may
// patch (retention.ts). A tree is therefore left (leave) before it is retired or pruned: its
// places move to another kept restore point holding the same chunk, and a chunk no other one holds
// that something still wants (a manifest references it, a pin holds it) is copied into a pack
// first. Every read re-hashes what it read, so a place that turned stale anyway reads as absent:
// the sender is asked for that chunk again, nothing wrong is ever used. (Delta bases are read
// unchecked: the chunk rebuilt from them is hashed, and its bases verified when it does not match.)
import fs from 'node:fs';
import path from 'node:path';
import { readAllAt } from '../fs-util.js';
import type { ChunkElsewhere } from '../store/chunk-store.js';
import { nameMatches } from '../store/hash.js';
import { BUILD_MIN_BYTES } from '../protocol/limits.js';
import type { ChunkRef, FileEntry, Manifest } from '../protocol/manifest.js';

interface Place {
  /** The restore point tree's folder (what leave() names). */
  tree: string;
  file: string;
  at: number;
  len: number;
}

interface OpenFile {
  fd: number;
  /** Reads in flight on it. */
  busy: number;
  /** No longer listed: closed once `busy` is 0. */
  closing: boolean;
}

/** Read descriptors kept open at most (files of large entries; a handful in practice). */
const OPEN_FILES = 32;

/** The large files of `manifest`: those written as their chunks arrive (build.ts), so the ones that may hold chunks no pack has. */
function* largeFiles(manifest: Manifest): Generator<FileEntry> {
  for (const e of manifest.entries) if (e.type === 'file' && e.size >= BUILD_MIN_BYTES) yield e;
}

/** Calls `visit` with each chunk of a file's list and where it lies in the file. */
function forEachChunkAt(chunks: ChunkRef[], visit: (hex: string, at: number, len: number) => void): void {
  let at = 0;
  for (const [h, len] of chunks) {
    visit(h, at, len);
    at += len;
  }
}

export class FileChunks implements ChunkElsewhere {
  private readonly places = new Map<string, Place>();
  private readonly fds = new Map<string, OpenFile>();
  /** Chunks taken by builds not committed yet (build.ts). */
  pending: ChunkElsewhere | null = null;

  /** `inPack`: whether a chunk has a pack record (those are not indexed here). */
  constructor(private readonly inPack: (hex: string) => boolean) {}

  get size(): number {
    return this.places.size;
  }

  has(hex: string): boolean {
    return this.places.has(hex) || (this.pending?.has(hex) ?? false);
  }

  async read(hex: string, unchecked = false): Promise<Buffer | null> {
    const p = this.places.get(hex);
    if (!p) return (await this.pending?.read(hex, unchecked)) ?? null;
    const raw = await this.readPlace(p).catch(() => null);
    if (raw && raw.length === p.len && (unchecked || nameMatches(raw, hex) !== null)) return raw;
    if (this.places.get(hex) === p) this.places.delete(hex);
    return null;
  }

  /**
   * Indexes the large files of restore point tree `tree` (its folder) with `manifest`: each of
   * their chunks that no pack holds is placed there, replacing an older place.
   */
  index(tree: string, manifest: Manifest): void {
    for (const e of largeFiles(manifest)) {
      const file = path.join(tree, e.path);
      forEachChunkAt(e.chunks, (h, at, len) => {
        if (!this.inPack(h)) this.places.set(h, { tree, file, at, len });
      });
    }
  }

  /**
   * Tree `tree` is about to be retired or removed: its places move to the newest of `kept` (trees
   * with their manifests, newest first) that holds the same chunk. Returns the chunks no kept tree
   * holds, each with its bytes when `rescue` says it is still wanted (read before the tree goes;
   * null when that read failed), for the caller to store elsewhere; they are no longer indexed.
   */
  async leave(
    tree: string,
    kept: ReadonlyArray<{ tree: string; manifest: Manifest }>,
    rescue: (hex: string) => boolean,
  ): Promise<Array<{ hex: string; raw: Buffer | null }>> {
    const orphans = new Map<string, Place>();
    for (const [h, p] of this.places) if (p.tree === tree) orphans.set(h, p);
    // Kept trees share most large files' chunk lists (an unchanged file keeps its list object from
    // one manifest to the next): each list is searched once, and a Place is made only for a chunk
    // found. Why: making one per kept chunk was ~20 ms of a prune whose tree left a few changed
    // chunks behind on the 2 GiB benchmark volume (27,000 chunks in its large file).
    const searched = new Set<ChunkRef[]>();
    for (const k of kept) {
      if (orphans.size === 0) break;
      for (const e of largeFiles(k.manifest)) {
        if (searched.has(e.chunks)) continue;
        searched.add(e.chunks);
        const file = path.join(k.tree, e.path);
        forEachChunkAt(e.chunks, (h, at, len) => {
          if (orphans.delete(h)) this.places.set(h, { tree: k.tree, file, at, len });
        });
        if (orphans.size === 0) break;
      }
    }
    const out: Array<{ hex: string; raw: Buffer | null }> = [];
    for (const h of orphans.keys()) {
      out.push({ hex: h, raw: rescue(h) ? await this.read(h) : null });
      this.places.delete(h);
    }
    for (const [file, f] of this.fds) {
      if (file.startsWith(tree + path.sep)) {
        this.fds.delete(file);
        this.closeWhenIdle(f);
      }
    }
    return out;
  }

  private async readPlace(p: Place): Promise<Buffer> {
    let f = this.fds.get(p.file);
    if (!f) {
      const fd = await new Promise<number>((resolve, reject) =>
        fs.open(p.file, 'r', (err, n) => (err ? reject(err) : resolve(n))),
      );
      f = this.fds.get(p.file);
      if (f) fs.close(fd, () => undefined);
      else {
        f = { fd, busy: 0, closing: false };
        this.fds.set(p.file, f);
        if (this.fds.size > OPEN_FILES) {
          const [oldest, o] = this.fds.entries().next().value as [string, OpenFile];
          this.fds.delete(oldest);
          this.closeWhenIdle(o);
        }
      }
    }
    f.busy++;
    try {
      const buf = Buffer.allocUnsafe(p.len);
      return buf.subarray(0, await readAllAt(f.fd, buf, 0, p.len, p.at));
    } finally {
      f.busy--;
      if (f.closing) this.closeWhenIdle(f);
    }
  }

  /** Closes a descriptor no longer listed once no read uses it (a number reused meanwhile would read another file). */
  private closeWhenIdle(f: OpenFile): void {
    f.closing = true;
    if (f.busy !== 0) return; // reads in flight, or closed already (-1)
    f.busy = -1;
    fs.close(f.fd, () => undefined);
  }
}
