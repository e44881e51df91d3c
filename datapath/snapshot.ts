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
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import type { Chunker } from './chunker.js';
import { chunkFile } from './chunker.js';
import type { ChunkStore, Pin } from './chunk-store.js';
import { AgentError } from './errors.js';
import { hashHex } from './hash.js';
import type { ChunkRef, Entry, FileEntry, Manifest } from './manifest.js';
import { symlinkEscape } from './manifest.js';

export const RACY_MARGIN_MS = 100;
/** Bytes of new chunks being compressed/written concurrently while the walk continues. */
const MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;

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
  onProgress?: (p: SnapshotProgress) => void;
  signal?: AbortSignal;
}

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
  const progress: SnapshotProgress = { filesSeen: 0, filesRead: 0, bytesRead: 0 };
  const racyCutoffNs = BigInt(started - RACY_MARGIN_MS) * 1_000_000n;
  const parentFiles = new Map<string, FileEntry>();
  if (opts.parent && !opts.full) {
    for (const e of opts.parent.entries) if (e.type === 'file' && e.stat) parentFiles.set(e.path, e);
  }
  const rootSt = fs.lstatSync(volumeDir, { bigint: true });
  if (!rootSt.isDirectory())
    throw new AgentError(400, 'unsafe_volume', `volume ${opts.volume} is not a directory`, false);

  const entries: Entry[] = [];
  const inflight = new Set<Promise<void>>();
  let inflightBytes = 0;
  let failure: unknown = null;
  let sinceYield = 0;

  const tryCompress = opts.compress ?? true;
  const store1 = (hex: string, raw: Buffer): void => {
    inflightBytes += raw.length;
    const p = store
      .put(hex, raw, { compress: tryCompress, pin, verify: opts.full })
      .then(
        (r) => {
          if (r.written) {
            stats.chunksNew++;
            stats.bytesStored += r.storedBytes;
            if (r.compressed) stats.chunksCompressed++;
          }
        },
        (err: unknown) => {
          failure ??= err;
        },
      )
      .finally(() => {
        inflightBytes -= raw.length;
        inflight.delete(p);
      });
    inflight.add(p);
  };

  const readFile = async (abs: string, rel: string, st: fs.BigIntStats): Promise<FileEntry> => {
    const fh = await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const before = await fh.stat({ bigint: true });
      if (!before.isFile() || before.ino !== st.ino) {
        throw new AgentError(
          409,
          'conflict',
          `file ${rel} changed type while being snapshotted; retry`,
          true,
        );
      }
      const chunks: ChunkRef[] = [];
      const size = await chunkFile(fh, chunker, async (chunk) => {
        const hex = hashHex(chunk);
        chunks.push([hex, chunk.length]);
        progress.bytesRead += chunk.length;
        if (store.has(hex) && !opts.full) {
          pin.add(hex);
        } else {
          store1(hex, Buffer.from(chunk));
          if (inflightBytes > MAX_INFLIGHT_BYTES) await Promise.race(inflight);
        }
        if (failure) throw failure;
      });
      const after = await fh.stat({ bigint: true });
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
      await fh.close();
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
      }
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
          for (const [h] of prev.chunks) pin.add(h);
          stats.filesReused++;
        } else {
          entry = await readFile(abs, rel, st);
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
  } finally {
    await Promise.allSettled([...inflight]);
  }
  if (failure) throw failure;
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
    hash: 'sha256',
    chunker: { min: chunker.min, avg: chunker.avg, max: chunker.max },
    rootMode: Number(rootSt.mode) & 0o7777,
    entries,
  };
  return { manifest, stats };
}
