// Destination side: building a restore point's tree in a staging folder from the chunk store.
// StandbyManager (standby.ts) decides which restore points exist and switches between them
// atomically; TreeWriter writes one tree.
//
// An incremental commit hard-links files whose entry (chunks, size, mode, mtime) is unchanged from
// the current restore point, so it costs O(changed bytes + entries); a changed file of 1 MiB or
// more that keeps at least half its chunks at the same offsets is copied from the current restore
// point (reflink, else O_DIRECT writes: copyPrevious; or the copy prepare.ts made while the
// source was still reading) and only its changed chunks written (patchFile) — or, cheaper still,
// made from a retired restore point's version moved into the new tree (recycle). Folders and
// symlinks are made on the event loop, the links on the linker thread (fs-thread.ts) while the
// files to write run on the thread pool. A full commit writes every file afresh from chunks re-verified by the full
// replication's `have` queries (or verified on receipt), healing any drift in older restore
// points' files. Modes are applied without the setuid/setgid bits; ownership is the agent's user.
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkStore } from '../store/chunk-store.js';
import { AgentError } from '../errors.js';
import { alignedBuffer, DIRECT_ALIGN, fsyncDir, writeAllAt } from '../fs-util.js';
import type { Entry, FileEntry, Manifest } from '../protocol/manifest.js';
import { BUILD_MIN_BYTES, PATCH_MIN_BYTES } from '../protocol/limits.js';
import { patchPlan, sameFile } from '../protocol/patch.js';
import { SyncSlices } from '../yield.js';
import { linkFiles } from '../fs-thread.js';
import { chunkStarts, KnownRanges } from './known-ranges.js';
import { fitsInPageCache } from './writeback.js';

/** Restore point files are written with the mode bits minus setuid/setgid. */
const MODE_MASK = 0o1777;
/** New files at least this large are written with O_DIRECT (writeFileDirect). */
const DIRECT_FILE_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Whether materialising `next` over `prev` may recycle a retired restore point's version of a file
 * (TreeWriter.recycle): it has a large file (PATCH_MIN_BYTES or more) that is not `prev`'s
 * unchanged. Only then does a commit retire restore points before building its tree.
 */
export function mayRecycle(prev: Manifest, next: Manifest): boolean {
  const before = new Map<string, FileEntry>();
  for (const e of prev.entries) if (e.type === 'file' && e.size >= PATCH_MIN_BYTES) before.set(e.path, e);
  for (const e of next.entries) {
    if (e.type !== 'file' || e.size < PATCH_MIN_BYTES) continue;
    const p = before.get(e.path);
    if (!p || !sameFile(p, e)) return true;
  }
  return false;
}

export class TreeWriter {
  /** Files written by recycling a retired restore point's version (ferry_agent_standby_recycled_files_total). */
  recycled = 0;
  private readonly scratchFree: Buffer[] = [];
  /** Aligned staging buffers of writeFileDirect (at most MATERIALISE_CONCURRENCY are ever out). */
  private readonly directFree: AlignedPool;

  constructor(
    private readonly store: ChunkStore,
    private readonly opts: { fsync: boolean },
    /** What is known of chunks rebuilt from deltas: a patch writes only the bytes that differ. */
    private readonly ranges: KnownRanges = new KnownRanges(),
  ) {
    this.directFree = new AlignedPool(DIRECT_BLOCK + store.maxChunkSize + 1, MATERIALISE_CONCURRENCY);
  }

  /** Writes `manifest`'s tree into the new folder `dir`, reusing `prev`'s files where they are unchanged. */
  async materialise(
    dir: string,
    manifest: Manifest,
    prev: {
      dir: string;
      manifest: Manifest;
      /** A copy of the previous version of file `rel` made ahead of time (prepare.ts), or null. */
      prepared?: (rel: string) => Promise<string | null>;
      /** Trees of retired restore points (oldest first) whose files may be recycled (recycle). */
      donors?: ReadonlyArray<{ dir: string; manifest: Manifest }>;
    } | null,
    /** File `e` written ahead of time from its chunks (build.ts), or null. */
    built?: (e: FileEntry) => Promise<string | null>,
  ): Promise<{ filesWritten: number; filesLinked: number; bytesWritten: number }> {
    const prevFiles = new Map<string, FileEntry>();
    if (prev) for (const e of prev.manifest.entries) if (e.type === 'file') prevFiles.set(e.path, e);
    // The newest donor's version of each large file: the closest to the new one.
    const donated = new Map<string, { path: string; entry: FileEntry }>();
    for (const d of prev?.donors ?? [])
      for (const e of d.manifest.entries)
        if (e.type === 'file' && e.size >= PATCH_MIN_BYTES)
          donated.set(e.path, { path: path.join(d.dir, e.path), entry: e });
    let filesWritten = 0;
    let filesLinked = 0;
    let filesPatched = 0;
    let bytesWritten = 0;
    fs.mkdirSync(dir, { mode: 0o700 });
    // Directories (a parent before its child: validateManifest checks it) and symlinks are made
    // with synchronous calls, in slices of at most SYNC_SLICE_MS between turns of the event loop
    // (a mkdir costs a few µs in the kernel and a thread-pool round trip as much again: 522
    // directories and 2,250 links took 33-84 ms synchronous vs 36-225 ms with 16 in flight on the
    // thread pool). The links of unchanged files are then made on the linker thread
    // (fs-thread.ts) while the files to write or patch run here, MATERIALISE_CONCURRENCY in flight
    // on the thread pool; a link that fails (e.g. the link count limit, or a drifted previous
    // tree) is written afresh after.
    const dirs: Array<Entry & { type: 'dir' }> = [];
    const toWrite: Array<{ e: FileEntry; target: string; p: FileEntry | undefined }> = [];
    const toLink: FileEntry[] = [];
    const slices = new SyncSlices(SYNC_SLICE_MS);
    for (const e of manifest.entries) {
      if (e.type === 'dir') {
        dirs.push(e);
        fs.mkdirSync(path.join(dir, e.path), { mode: 0o700 });
      } else if (e.type === 'symlink') {
        fs.symlinkSync(e.target, path.join(dir, e.path));
      } else {
        const p = prevFiles.get(e.path);
        if (prev && p && sameFile(p, e)) toLink.push(e);
        else toWrite.push({ e, target: path.join(dir, e.path), p });
      }
      await slices.maybeYield();
    }
    const write = async ({ e, target, p }: { e: FileEntry; target: string; p: FileEntry | undefined }) => {
      const donor = donated.get(e.path);
      let patched = donor ? await this.recycle(target, e, donor) : -1;
      if (patched < 0 && prev && p)
        patched = await this.patchFile(target, e, path.join(prev.dir, e.path), p, prev.prepared);
      if (patched >= 0) {
        bytesWritten += patched;
        filesPatched++;
      } else {
        bytesWritten += await this.writeFile(target, e, built);
        filesWritten++;
      }
    };
    const linking = prev
      ? linkFiles(
          prev.dir,
          dir,
          toLink.map((e) => e.path),
        )
      : Promise.resolve([]);
    // Both settle before this returns or throws: the caller removes a failed staging tree.
    const [wrote, linked] = await Promise.allSettled([pool(toWrite, write), linking]);
    if (wrote.status === 'rejected') throw wrote.reason;
    if (linked.status === 'rejected') throw linked.reason;
    filesLinked = toLink.length - linked.value.length;
    await pool(
      linked.value.map((i) => {
        const e = toLink[i] as FileEntry;
        return { e, target: path.join(dir, e.path), p: prevFiles.get(e.path) };
      }),
      write,
    );
    for (let i = dirs.length - 1; i >= 0; i--) {
      const d = dirs[i] as Entry & { type: 'dir' };
      fs.chmodSync(path.join(dir, d.path), d.mode & MODE_MASK);
      if (this.opts.fsync) fsyncDir(path.join(dir, d.path));
    }
    fs.chmodSync(dir, manifest.rootMode & MODE_MASK);
    if (this.opts.fsync) fsyncDir(dir);
    return { filesWritten: filesWritten + filesPatched, filesLinked, bytesWritten };
  }

  /**
   * Writes a changed large file by recycling a retired restore point's version of it (`donor`,
   * standby.ts retire): the file is moved into the new tree and only the chunks that differ from
   * the donor's version are written over it. Why: patching the current version means copying it
   * first (copyPrevious), the whole file, where a recycled one costs only what changed since the
   * donor's snapshot; on a database that rewrites 1% of its pages between snapshots that is a few
   * percent of the file instead of all of it. Only a file of the donor's alone qualifies (one link:
   * not shared with a restore point still kept) whose size is the donor manifest's. Returns the
   * chunk bytes written, or -1 (nothing moved) when it does not qualify or patching does not pay.
   */
  async recycle(target: string, e: FileEntry, donor: { path: string; entry: FileEntry }): Promise<number> {
    const changed = patchPlan(donor.entry, e);
    if (!changed) return -1;
    try {
      const st = await fs.promises.lstat(donor.path);
      if (!st.isFile() || st.nlink !== 1 || st.size !== donor.entry.size) return -1;
      await fs.promises.rename(donor.path, target);
    } catch {
      return -1;
    }
    this.recycled++;
    return this.patchInPlace(target, e, donor.entry, changed, this.store.stages.begin('write'));
  }

  /**
   * Writes a changed file that shares at least half its bytes (chunks at the same offsets) with its
   * previous version: the previous restore point's copy is copied (copyPrevious: a reflink where
   * the filesystem can, else O_DIRECT writes, else copy_file_range; off the event loop) and only the
   * differing chunks are written over it. Returns the chunk bytes written, or -1 when it does not pay or the previous
   * copy is unusable (the caller then writes the file from chunks).
   */
  private async patchFile(
    target: string,
    e: FileEntry,
    prevPath: string,
    p: FileEntry,
    prepared?: (rel: string) => Promise<string | null>,
  ): Promise<number> {
    const changed = patchPlan(p, e);
    if (!changed) return -1;
    const writing = this.store.stages.begin('write');
    try {
      const ready = await prepared?.(e.path);
      if (ready && (await fs.promises.lstat(ready)).size === p.size) {
        await fs.promises.rename(ready, target);
      } else {
        if (ready) await fs.promises.rm(ready, { force: true });
        const st = await fs.promises.lstat(prevPath);
        if (!st.isFile() || st.size !== p.size) {
          writing();
          return -1;
        }
        await copyPrevious(prevPath, target, p.size);
      }
    } catch {
      writing();
      await fs.promises.rm(target, { force: true });
      return -1;
    }
    return this.patchInPlace(target, e, p, changed, writing);
  }

  /**
   * Writes `changed` (patchPlan of `base` → `e`) over `target`, a copy of `base`'s version: of each
   * chunk only the ranges `base` does not already hold where they go (known-ranges.ts), the whole
   * chunk when nothing is known of it.
   */
  private patchInPlace(
    target: string,
    e: FileEntry,
    base: FileEntry,
    changed: ReadonlyArray<readonly [string, number, number]>,
    writing: (bytes?: number) => void,
  ): Promise<number> {
    const baseAt = chunkStarts(base.chunks);
    const writes = changed
      .map(([h, len, at]) => [h, len, at, this.ranges.toWrite(h, at, len, baseAt)] as const)
      .filter(([, , , parts]) => parts.length > 0);
    const spans = writes.flatMap(([h, , at, parts]) => parts.map(([s, t]) => [h, t - s, at + s] as const));
    return this.writeChunks(
      async () => {
        await fs.promises.chmod(target, 0o600);
        const fd = fs.openSync(target, 'r+');
        await warmPages(fd, partialPages(spans, base.size));
        return fd;
      },
      e,
      writes,
      writing,
      e.size !== base.size ? e.size : undefined,
    );
  }

  /**
   * Writes a file from its chunks. Hashes are not recomputed here: every chunk was verified when it
   * was received, and a full replication re-verified every chunk it did not resend (have?verify=1).
   */
  private async writeFile(
    target: string,
    e: FileEntry,
    built?: (e: FileEntry) => Promise<string | null>,
  ): Promise<number> {
    const ready = e.size >= BUILD_MIN_BYTES ? await built?.(e) : null;
    if (ready && (await renameOrDrop(ready, target))) {
      const end = this.store.stages.begin('write');
      try {
        const fd = fs.openSync(target, 'r+');
        try {
          this.finishFile(fd, e);
        } finally {
          fs.closeSync(fd);
        }
      } finally {
        end();
      }
      return e.size;
    }
    if (e.size >= DIRECT_FILE_MIN_BYTES && !this.opts.fsync) {
      const written = await this.writeFileDirect(target, e);
      if (written >= 0) return written;
    }
    // Synchronous writes: for data, a thread-pool hop per chunk costs more than it overlaps. The
    // create goes to the thread pool: on ext4 it may wait on the journal (0.48 s of the event
    // loop's time for ~2,500 files in a profile of the 512 MiB full copy), and MATERIALISE_CONCURRENCY
    // creates then overlap.
    return this.writeChunks(
      () => openExclusive(target),
      e,
      e.chunks.map(([h, len]) => [h, len, null] as const),
      this.store.stages.begin('write'),
    );
  }

  /**
   * Opens a file, writes `chunks` ([hash, length, offset or null for "next", and with an offset
   * optionally only these [start, end) ranges of the chunk]) into it, truncates it to `truncate`
   * bytes when given, gives it its manifest mode and mtime and closes it; `end` (the write stage's
   * timer) is called with the bytes written whatever happens.
   */
  private async writeChunks(
    open: () => Promise<number>,
    e: FileEntry,
    chunks: ReadonlyArray<
      | readonly [string, number, number | null]
      | readonly [string, number, number, ReadonlyArray<readonly [number, number]>]
    >,
    end: (bytes: number) => void,
    truncate?: number,
  ): Promise<number> {
    const scratch = this.scratch();
    let written = 0;
    try {
      const fd = await open();
      try {
        for (const [h, len, at, parts] of chunks) {
          const bytes = await this.chunkBytes(h, len, scratch);
          if (parts && at !== null)
            for (const [s, t] of parts) written += writeFully(fd, bytes.subarray(s, t), at + s);
          else written += writeFully(fd, bytes, at);
        }
        if (truncate !== undefined) fs.ftruncateSync(fd, truncate);
        this.finishFile(fd, e);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      this.scratchFree.push(scratch);
      end(written);
    }
    return written;
  }

  /**
   * writeFile for a large file, with O_DIRECT: chunks are gathered in an aligned staging buffer and
   * written in whole 8 MiB blocks, the last partial 4 KiB block through the page cache. Why: a
   * full copy's commit wrote the whole volume into new page-cache pages, which on the reference VM
   * cost up to ten times what O_DIRECT does (the destination's `write` stage was 53% of a 2 GiB
   * full copy's wall time; docs/benchmarks.md, issue 14). Returns -1, leaving no file, when the
   * filesystem refuses O_DIRECT (the caller then writes through the page cache).
   */
  private async writeFileDirect(target: string, e: FileEntry): Promise<number> {
    let direct: number;
    try {
      direct = fs.openSync(
        target,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_DIRECT,
        0o600,
      );
    } catch (err) {
      if ((err as { code?: string }).code === 'EINVAL') return -1;
      throw err;
    }
    const end = this.store.stages.begin('write');
    const dev = fs.fstatSync(direct).dev;
    const staging = this.directFree.take(dev, direct);
    if (!staging) {
      fs.closeSync(direct);
      fs.rmSync(target, { force: true });
      end();
      return -1;
    }
    const scratch = this.scratch();
    const blocks = new BlockWriter(direct, staging);
    let closed = false;
    let refused = false;
    try {
      for (const [h, len] of e.chunks) await blocks.add(await this.chunkBytes(h, len, scratch));
      const { tail, at } = await blocks.alignedPart();
      fs.closeSync(direct);
      closed = true;
      const fd = fs.openSync(target, 'r+');
      try {
        writeFully(fd, tail, at);
        this.finishFile(fd, e);
      } finally {
        fs.closeSync(fd);
      }
      return blocks.size;
    } catch (err) {
      if (!closed) fs.closeSync(direct);
      fs.rmSync(target, { force: true });
      // A direct write refused (EINVAL: an alignment this filesystem will not take after all):
      // drop the buffer and let the caller write the file through the page cache.
      if ((err as { code?: string }).code === 'EINVAL') {
        refused = true;
        return -1;
      }
      throw err;
    } finally {
      this.scratchFree.push(scratch);
      if (!refused) this.directFree.give(dev, staging);
      end(refused ? 0 : blocks.size);
    }
  }

  /**
   * A chunk's bytes from the store, valid until the next call with the same `scratch` (one per file
   * being written: see scratch()); a length other than the manifest's means the store is corrupt.
   */
  private async chunkBytes(h: string, len: number, scratch: Buffer): Promise<Buffer> {
    const raw = await this.store.readRawInto(h, scratch);
    if (raw.length !== len) {
      throw new AgentError(
        500,
        'internal',
        `chunk ${h} in the store is corrupt; a full replication will replace it`,
        true,
      );
    }
    return raw;
  }

  /**
   * A read buffer for one file being written, from a free list (at most MATERIALISE_CONCURRENCY
   * are ever out): chunks are read into it and written at once, instead of each chunk allocating
   * its own buffer (which, at 64 KiB a chunk, kept the garbage collector busy during commits).
   */
  private scratch(): Buffer {
    return this.scratchFree.pop() ?? Buffer.allocUnsafeSlow(this.store.maxChunkSize + 1);
  }

  /** Gives a restored file its manifest mode and mtime, and fsyncs it when asked to. */
  private finishFile(fd: number, e: FileEntry): void {
    fs.fchmodSync(fd, e.mode & MODE_MASK);
    fs.futimesSync(fd, e.mtimeMs / 1000, e.mtimeMs / 1000);
    if (this.opts.fsync) fs.fsyncSync(fd);
  }
}

/** Bytes per read/write while copying a previous version with O_DIRECT. */
export const DIRECT_BLOCK = 8 * 1024 * 1024;

/**
 * A new file written front to back through an aligned staging buffer (DIRECT_BLOCK plus room for
 * one more piece): each whole DIRECT_BLOCK goes out with one write on `fd` (opened with O_DIRECT)
 * as soon as it is full; alignedPart() writes the whole 4 KiB blocks left and hands back the
 * unaligned tail, for the caller to write through the page cache. `timed` wraps each write (the
 * `write` stage, where the caller counts it).
 */
export class BlockWriter {
  private pos = 0;
  private fill = 0;

  constructor(
    private readonly fd: number,
    private readonly staging: Buffer,
    private readonly timed: (w: Promise<void>, bytes: number) => Promise<void> = (w) => w,
  ) {}

  /** Bytes added so far. */
  get size(): number {
    return this.pos + this.fill;
  }

  async add(piece: Buffer): Promise<void> {
    this.fill += piece.copy(this.staging, this.fill);
    if (this.fill < DIRECT_BLOCK) return;
    await this.timed(writeAllAt(this.fd, this.staging.subarray(0, DIRECT_BLOCK), this.pos), DIRECT_BLOCK);
    this.pos += DIRECT_BLOCK;
    this.fill = this.staging.copy(this.staging, 0, DIRECT_BLOCK, this.fill);
  }

  /** The bytes at file offset `at` (`len` of them) while they are in the staging buffer, else null. */
  staged(at: number, len: number): Buffer | null {
    return at >= this.pos && at + len <= this.pos + this.fill
      ? this.staging.subarray(at - this.pos, at - this.pos + len)
      : null;
  }

  /** Writes the whole 4 KiB blocks not written yet; returns the rest (`tail`) and its offset. */
  async alignedPart(): Promise<{ tail: Buffer; at: number }> {
    const whole = this.fill - (this.fill % DIRECT_ALIGN);
    if (whole > 0) await this.timed(writeAllAt(this.fd, this.staging.subarray(0, whole), this.pos), whole);
    return { tail: this.staging.subarray(whole, this.fill), at: this.pos + whole };
  }
}

/**
 * Copies a previous restore point's file (`size` bytes) to a new `target` for patching: a reflink
 * where the filesystem can; else through the page cache (copy_file_range) when the copy fits well
 * under the kernel's background write-back threshold (writeback.ts); else with O_DIRECT writes
 * (copyDirect); else copy_file_range.
 * Why O_DIRECT: measured on the reference VM during the 2 GiB benchmark, copying the 1.7 GiB file
 * through the page cache (copy_file_range) cost ~4 s of system time while the previous commit's
 * gigabytes of dirty pages were being written back (memcpy into fresh page-cache pages at
 * ~440 MB/s), and it adds 1.7 GiB more dirty pages; O_DIRECT writes straight from a reused buffer
 * (pages-1pct 8.0 → 6.0 s, append-10MiB 5.9 → 4.3 s). The trade-off: with no write-back pending
 * (the 1 GiB benchmark) the page-cache copy was ~0.3 s faster for 0.85 GiB.
 */
export async function copyPrevious(prevPath: string, target: string, size: number): Promise<void> {
  try {
    await fs.promises.copyFile(
      prevPath,
      target,
      fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE_FORCE,
    );
    return;
  } catch {
    await fs.promises.rm(target, { force: true });
  }
  if (fitsInPageCache(size)) {
    await fs.promises.copyFile(prevPath, target, fs.constants.COPYFILE_EXCL);
    return;
  }
  try {
    if (await copyDirect(prevPath, target, size)) return;
  } catch {
    // e.g. an O_DIRECT write refused: fall back to the kernel copy below
  }
  await fs.promises.rm(target, { force: true });
  await fs.promises.copyFile(prevPath, target, fs.constants.COPYFILE_EXCL);
}

/**
 * Copies the first `size` bytes of `src` to a new file `target`: whole 4 KiB blocks with O_DIRECT
 * (reads buffered, the next block read while the previous one is written), the tail buffered.
 * Returns false when the filesystem or platform does not support O_DIRECT. Throws when `src` is
 * shorter than `size`.
 */
export async function copyDirect(src: string, target: string, size: number): Promise<boolean> {
  const O_DIRECT = fs.constants.O_DIRECT;
  if (!O_DIRECT) return false;
  let out: fs.promises.FileHandle;
  try {
    out = await fs.promises.open(
      target,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_DIRECT,
      0o600,
    );
  } catch (err) {
    if ((err as { code?: string }).code === 'EINVAL') return false;
    throw err;
  }
  const whole = size - (size % DIRECT_ALIGN);
  // The previous version is read with O_DIRECT too where allowed: it is usually not in the page
  // cache (restore-point files are written with O_DIRECT), and reading it through the cache would
  // fill the cache with a copy nobody reads again.
  const inp = await fs.promises
    .open(src, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
    .catch(() => fs.promises.open(src, 'r'))
    .catch(async (err: unknown) => {
      await out.close();
      throw err;
    });
  const dev = (await out.stat()).dev;
  const bufs: Buffer[] = [];
  let copied = false;
  try {
    for (let k = 0; k < 2 && whole > 0; k++) {
      const b = copyBuffers.take(dev, out.fd);
      if (!b) return false;
      bufs.push(b);
    }
    const readFull = async (buf: Buffer, at: number, len: number): Promise<void> => {
      for (let got = 0; got < len;) {
        const { bytesRead } = await inp.read(buf, got, len - got, at + got);
        if (bytesRead === 0) throw new Error(`${src} is shorter than ${size} bytes`);
        got += bytesRead;
      }
    };
    let next: Promise<void> | null =
      whole > 0 ? readFull(bufs[0] as Buffer, 0, Math.min(DIRECT_BLOCK, whole)) : null;
    try {
      for (let at = 0, k = 0; at < whole; at += DIRECT_BLOCK, k ^= 1) {
        const len = Math.min(DIRECT_BLOCK, whole - at);
        await next;
        const nextAt = at + len;
        next =
          nextAt < whole
            ? readFull(bufs[k ^ 1] as Buffer, nextAt, Math.min(DIRECT_BLOCK, whole - nextAt))
            : null;
        const buf = bufs[k] as Buffer;
        for (let put = 0; put < len;) {
          const { bytesWritten } = await out.write(buf, put, len - put, at + put);
          put += bytesWritten;
        }
      }
    } catch (err) {
      await next?.catch(() => undefined);
      throw err;
    }
    if (size > whole) {
      const tail = Buffer.allocUnsafe(size - whole);
      const tfd = fs.openSync(src, 'r'); // unaligned: through the page cache
      try {
        for (let got = 0; got < tail.length;) {
          const n = fs.readSync(tfd, tail, got, tail.length - got, whole + got);
          if (n === 0) throw new Error(`${src} is shorter than ${size} bytes`);
          got += n;
        }
      } finally {
        fs.closeSync(tfd);
      }
      const fd = fs.openSync(target, 'r+');
      try {
        writeFully(fd, tail, whole);
      } finally {
        fs.closeSync(fd);
      }
    }
    copied = true;
    return true;
  } finally {
    if (copied) for (const b of bufs) copyBuffers.give(dev, b);
    await inp.close();
    await out.close();
  }
}

/**
 * Aligned buffers of one size not in use, by filesystem (st_dev): a buffer is aligned as the
 * filesystem it was probed on requires (tmpfs takes any address), so it is only reused on that
 * one; at most `keep` per filesystem. Why reuse: making one probes with a synchronous O_DIRECT
 * write (alignedBuffer), which behind the writeback of a previous replication took tens of
 * milliseconds of the event loop (cpuprofile, 512 MiB benchmark: 26 ms for copyDirect's two
 * buffers in the one copy of pages-1pct).
 */
export class AlignedPool {
  private readonly free = new Map<number, Buffer[]>();

  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  /** A buffer for `fd` (on filesystem `dev`): a kept one, else a new one; null when none aligns. */
  take(dev: number, fd: number): Buffer | null {
    return this.free.get(dev)?.pop() ?? alignedBuffer(fd, this.size);
  }

  give(dev: number, buf: Buffer): void {
    const free = this.free.get(dev) ?? [];
    this.free.set(dev, free);
    if (free.length < this.keep) free.push(buf);
  }
}

/** copyDirect's two buffers per copy, kept for the next copies. */
const copyBuffers = new AlignedPool(DIRECT_BLOCK, 4);

/**
 * The offsets of the 4 KiB pages of a file of `size` bytes where writing `changed` (chunks at
 * their offsets, in order) over it starts or ends a write inside a page. Pages at or past `size`
 * are not listed (nothing to read there).
 */
export function partialPages(
  changed: ReadonlyArray<readonly [string, number, number]>,
  size: number,
): number[] {
  const pages: number[] = [];
  for (const [, len, at] of changed) {
    for (const edge of [at, at + len]) {
      const page = edge - (edge % PAGE);
      if (edge % PAGE !== 0 && page < size && pages[pages.length - 1] !== page) pages.push(page);
    }
  }
  return pages;
}

/**
 * Brings pages of an open file into the page cache, MATERIALISE_CONCURRENCY reads in flight on
 * the thread pool (pool). Why: a patch writes chunks at unaligned offsets into a copy made with O_DIRECT, so the page
 * where a chunk starts or ends is not cached and each such write first read it from the device,
 * one at a time (writes to one file hold its inode lock): on the benchmark VM 1,159 chunks written
 * over a 430 MiB copy took 150-250 ms unaligned, 22 ms aligned, 89-119 ms with these pages read
 * first (reads run in parallel); the 512 MiB benchmark's pages-1pct commit 231-276 -> 148-180 ms
 * (3 interleaved runs each).
 */
async function warmPages(fd: number, pages: number[]): Promise<void> {
  const one = Buffer.alloc(1); // the byte read is not used: reading it brings its page in
  await pool(
    pages,
    (at) => new Promise<void>((ok, ko) => fs.read(fd, one, 0, 1, at, (err) => (err ? ko(err) : ok()))),
  );
}

const PAGE = 4096;

/** Operations in flight while materialising a tree (the thread pool has 4 threads by default). */
const MATERIALISE_CONCURRENCY = 16;
/** Longest stretch of synchronous mkdir/link/symlink calls before yielding to the event loop. */
const SYNC_SLICE_MS = 4;

/** Runs `fn` over `items` with MATERIALISE_CONCURRENCY in flight; the first failure stops it. */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(MATERIALISE_CONCURRENCY, items.length) }, worker));
}

/** Renames `from` to `to`; when that fails, deletes `from` and answers false (the caller writes `to` itself). */
async function renameOrDrop(from: string, to: string): Promise<boolean> {
  try {
    await fs.promises.rename(from, to);
    return true;
  } catch {
    await fs.promises.rm(from, { force: true });
    return false;
  }
}

/** Creates and opens `target` for writing (it must not exist), on the thread pool. */
function openExclusive(target: string): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(target, 'wx', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

/** Writes all of `buf` at `position` (null: the file's current offset); returns its length. */
function writeFully(fd: number, buf: Buffer, position: number | null): number {
  let k = 0;
  while (k < buf.length)
    k += fs.writeSync(fd, buf, k, buf.length - k, position === null ? null : position + k);
  return buf.length;
}
