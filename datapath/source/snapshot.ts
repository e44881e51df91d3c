// Taking a snapshot of a live volume: walk it, chunk and hash file contents, capture new chunks
// into the chunk store (so the application may keep writing once the snapshot returns), and write
// the manifest.
//
// Incremental: a file whose size, mtime, ctime and inode equal its entry in the parent snapshot
// reuses that entry (its chunks are already in the store, kept alive by the parent's manifest),
// so an unchanged volume costs one lstat per entry and reads no file contents. Full: the parent
// is ignored, every file is read, and chunks already in the store are re-read and re-hashed and
// rewritten if they have drifted.
//
// "Racy" files — modified within RACY_MARGIN_MS of the walk — are recorded without their stat
// identity so the next snapshot re-reads them: a write landing in the same timestamp tick as the
// one we saw would otherwise go unnoticed. Files are opened with O_NOFOLLOW and re-checked with
// fstat, so a path swapped for a symlink mid-walk is never followed out of the volume; a file
// that changes while being read is recorded as read (its size is the bytes chunked) and marked racy.
// Device files, FIFOs and sockets are skipped and listed in the result; a symlink whose target
// leaves the volume makes the snapshot fail (the destination would refuse it anyway).
//
// Reading, chunking, hashing and storing file contents is ingest.ts (reused 8 MiB-block buffers,
// synchronous calls for small files, a read/cut/hash/write pipeline with a hash worker thread for
// large ones, no per-chunk copy for chunks the store has or that are stored raw); see its header
// for the profile that motivated it.
//
// Streaming hook: `onChunk` (SnapshotOptions, and TakeOptions in volumes.ts) is called once per
// distinct chunk of the files this snapshot reads — { hash, size, stored } — as soon as the chunk
// is readable from the store, so the transfer can send chunks while the walk goes on. Chunks of
// files reused from the parent are not reported.
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import type { Chunker } from '../store/chunker.js';
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { AgentError } from '../errors.js';
import { DEFAULT_HASH, type HashAlgorithm } from '../store/hash.js';
import type { ChunkEvent } from './ingest.js';
import { Ingest } from './ingest.js';
import type { ChunkRef, Entry, FileEntry, Manifest } from '../protocol/manifest.js';
import { symlinkEscape } from '../protocol/manifest.js';

export const RACY_MARGIN_MS = 100;

export interface SnapshotProgress {
  filesSeen: number;
  filesRead: number;
  bytesRead: number;
}

export interface SnapshotOptions {
  id: string;
  volume: string;
  full: boolean;
  parent: Manifest | null;
  store: ChunkStore;
  chunker: Chunker;
  pin: Pin;
  /** Try compression for new chunks (kept only when it saves >= 10%). */
  compress?: boolean;
  /**
   * How to name chunks when there is no parent (default: DEFAULT_HASH); with a parent, the
   * parent's, even in full mode (store/hash.ts: a volume keeps its algorithm).
   */
  hash?: HashAlgorithm;
  onProgress?: (p: SnapshotProgress) => void;
  /**
   * Streaming hook: called once per distinct chunk of the files this snapshot reads, as soon as
   * the chunk is in the store (ChunkStore.readStored works on it from inside the callback on).
   * `stored` is true when this snapshot wrote it (absent before, or drifted in full mode), false
   * when the store already had it. Chunks of files reused from the parent are not reported (the
   * parent's manifest lists them). Calls arrive in file order except that chunks compressed on
   * the thread pool may be reported a little after chunks cut later. Must not throw; it runs
   * synchronously inside the read loop, so keep it cheap (queue the hash, do the work elsewhere).
   */
  onChunk?: (c: ChunkEvent) => void;
  /**
   * Called with each file of the parent snapshot that changed (its stat differs), just before it
   * is read: an incremental replication names large ones to the destination, which copies their
   * previous version while this snapshot reads them (destination/prepare.ts), for the restore
   * point this snapshot (`snapshotId`) will become. Not called in full mode. Must not throw.
   */
  onReread?: (path: string, size: number, snapshotId: string) => void;
  /**
   * Called as a new large file (one read without a previous version: every file of a full
   * snapshot) is cut, with its chunk list so far after each block and once more with `done` when
   * it is complete, for the restore point this snapshot (`snapshotId`) will become: a
   * replication names them to the destination, which writes the file while its chunks arrive
   * (destination/build.ts). A file read again (it changed during its read) starts over from an
   * empty list. Must not throw; runs synchronously inside the read loop.
   */
  onFileChunks?: (path: string, chunks: readonly ChunkRef[], done: boolean, snapshotId: string) => void;
  /**
   * onFileChunks (same arguments) for a large file of the parent snapshot read again (it
   * changed): its chunk list so far after each block, and once more with `done`. Called before onChunk reports the new
   * chunks of that block, so a replication knows where in the file each one lies (the offsets a
   * delta against the previous version needs) when it streams them. Must not throw; runs
   * synchronously inside the read loop.
   */
  onRereadChunks?: SnapshotOptions['onFileChunks'];
  signal?: AbortSignal;
}

export type { ChunkEvent } from './ingest.js';

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  filesRead: number;
  filesReused: number;
  bytesRead: number;
  chunksNew: number;
  bytesStored: number;
  chunksCompressed: number;
  skipped: Array<{ path: string; type: string }>;
  durationMs: number;
}

function kindOf(st: fs.BigIntStats): string {
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

/**
 * The hash a snapshot names its chunks by: its parent's, so a volume keeps one algorithm for its
 * whole chain (store/hash.ts); without a parent, `preferred`, else this agent's default.
 */
export function chainHash(
  parent: Pick<Manifest, 'hash'> | null | undefined,
  preferred?: HashAlgorithm,
): HashAlgorithm {
  return parent?.hash ?? preferred ?? DEFAULT_HASH;
}

export async function takeSnapshot(
  volumeDir: string,
  opts: SnapshotOptions,
): Promise<{ manifest: Manifest; stats: SnapshotStats }> {
  const started = Date.now();
  const { store, chunker, pin } = opts;
  const stats: SnapshotStats = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    filesRead: 0,
    filesReused: 0,
    bytesRead: 0,
    chunksNew: 0,
    bytesStored: 0,
    chunksCompressed: 0,
    skipped: [],
    durationMs: 0,
  };
  let sinceYield = 0;
  const progress: SnapshotProgress = { filesSeen: 0, filesRead: 0, bytesRead: 0 };
  const racyCutoffNs = BigInt(started - RACY_MARGIN_MS) * 1_000_000n;
  const hash = chainHash(opts.parent, opts.hash);
  const parentFiles = new Map<string, FileEntry>();
  if (opts.parent && !opts.full) {
    for (const e of opts.parent.entries) if (e.type === 'file') parentFiles.set(e.path, e);
  }
  const rootSt = fs.lstatSync(volumeDir, { bigint: true });
  if (!rootSt.isDirectory())
    throw new AgentError(400, 'unsafe_volume', `volume ${opts.volume} is not a directory`, false);

  const entries: Entry[] = [];
  const ingest = new Ingest({
    store,
    chunker,
    pin,
    full: opts.full,
    compress: opts.compress ?? true,
    hash,
    ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onBytes: (n) => {
      progress.bytesRead += n;
    },
  });

  const readFile = async (
    abs: string,
    rel: string,
    st: fs.BigIntStats,
    prev: FileEntry | undefined,
  ): Promise<FileEntry> => {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const before = fs.fstatSync(fd, { bigint: true });
      if (!before.isFile() || before.ino !== st.ino) {
        throw new AgentError(
          409,
          'conflict',
          `file ${rel} changed type while being snapshotted; retry`,
          true,
        );
      }
      const told = prev ? opts.onRereadChunks : opts.onFileChunks;
      const { size, chunks } = await ingest.file(
        fd,
        Number(before.size),
        prev?.chunks,
        told ? (list, done) => told(rel, list, done, opts.id) : undefined,
      );
      const after = fs.fstatSync(fd, { bigint: true });
      const racy =
        after.mtimeNs !== before.mtimeNs ||
        after.size !== before.size ||
        after.mtimeNs >= racyCutoffNs ||
        after.ctimeNs >= racyCutoffNs;
      stats.filesRead++;
      stats.bytesRead += size;
      progress.filesRead++;
      opts.onProgress?.(progress);
      return {
        path: rel,
        type: 'file',
        mode: Number(before.mode) & 0o7777,
        size,
        mtimeMs: Number(before.mtimeMs),
        chunks,
        ...(racy
          ? {}
          : {
              stat: {
                ino: String(before.ino),
                mtimeNs: String(before.mtimeNs),
                ctimeNs: String(before.ctimeNs),
              },
            }),
      };
    } finally {
      fs.closeSync(fd);
    }
  };

  const walk = async (absDir: string, relDir: string): Promise<void> => {
    const names = fs.readdirSync(absDir).sort();
    for (const name of names) {
      if (opts.signal?.aborted) throw new AgentError(499, 'cancelled', 'snapshot cancelled', false);
      const abs = path.join(absDir, name);
      const rel = relDir ? `${relDir}/${name}` : name;
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(abs, { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted during the walk
        throw err;
      }
      progress.filesSeen++;
      if (++sinceYield >= 512) {
        sinceYield = 0;
        await yieldNow();
      } else await ingest.maybeYield();
      if (st.isDirectory()) {
        entries.push({ path: rel, type: 'dir', mode: Number(st.mode) & 0o7777 });
        stats.dirs++;
        await walk(abs, rel);
      } else if (st.isSymbolicLink()) {
        entries.push({ path: rel, type: 'symlink', target: fs.readlinkSync(abs) });
        stats.symlinks++;
      } else if (st.isFile()) {
        const prev = parentFiles.get(rel);
        let entry: FileEntry;
        if (
          prev?.stat &&
          prev.size === Number(st.size) &&
          prev.stat.ino === String(st.ino) &&
          prev.stat.mtimeNs === String(st.mtimeNs) &&
          prev.stat.ctimeNs === String(st.ctimeNs)
        ) {
          entry = { ...prev, mode: Number(st.mode) & 0o7777 };
          pin.addList(prev.chunks);
          stats.filesReused++;
        } else {
          if (prev) opts.onReread?.(rel, Number(st.size), opts.id);
          entry = await readFile(abs, rel, st, prev);
        }
        entries.push(entry);
        stats.files++;
        stats.bytes += entry.size;
      } else {
        stats.skipped.push({ path: rel, type: kindOf(st) });
      }
    }
  };

  try {
    await walk(volumeDir, '');
  } catch (err) {
    await ingest.settle();
    throw err;
  }
  await ingest.finish();
  stats.chunksNew = ingest.counters.chunksNew;
  stats.bytesStored = ingest.counters.bytesStored;
  stats.chunksCompressed = ingest.counters.chunksCompressed;
  const byPath = new Map(entries.map((e) => [e.path, e]));
  for (const e of entries) {
    if (e.type !== 'symlink') continue;
    const why = symlinkEscape(byPath, e.path, e.target);
    if (why) {
      throw new AgentError(
        400,
        'unsafe_volume',
        `volume ${opts.volume}: symlink ${JSON.stringify(e.path)} -> ${JSON.stringify(e.target)} ${why}; symlinks must stay inside the volume`,
        false,
      );
    }
  }
  stats.durationMs = Date.now() - started;
  const manifest: Manifest = {
    version: 1,
    id: opts.id,
    volume: opts.volume,
    parent: opts.parent?.id ?? null,
    full: opts.full,
    createdAt: new Date(started).toISOString(),
    hash,
    chunker: { min: chunker.min, avg: chunker.avg, max: chunker.max },
    rootMode: Number(rootSt.mode) & 0o7777,
    entries,
  };
  return { manifest, stats };
}
