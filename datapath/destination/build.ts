// Destination side: the large files of a coming restore point, written while their chunks arrive.
//
// A full commit writes every file from the chunk store once the last chunk is in; the large ones
// are most of it, and the commit runs after the transfer, on the replication's clock (2.2-3.3 s of
// the 2 GiB benchmark's 14-16 s full copy, 0.5 s of the 512 MiB one's 3.4 s). The source names each
// large new file's chunks, in order, as its snapshot cuts them (POST /v1/standby/:v/build;
// source/prepare-hints.ts BuildHints); this class writes them into a file in
// `<standby>/<volume>/tmp` as each arrives in the store, so the file is written while the rest of
// the volume is still on the wire. The commit takes the file when its manifest entry lists exactly
// the chunks built (size included) and renames it into the new tree; otherwise it writes the file
// as before. Best effort throughout: a build that fails, falls behind or is not taken costs only
// its device time. A build belongs to the restore point it was named for; files not taken are
// deleted when that commit ends, or after PREPARED_IDLE_MS without a commit. BUILDS_AT_ONCE files
// are written at a time (each holds an aligned 8 MiB staging buffer); the others wait their turn.
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkStore } from '../store/chunk-store.js';
import { type ChunkRef, type FileEntry, sameChunks } from '../protocol/manifest.js';
import type { BuildPiece } from '../protocol/build-hints.js';
import { newId, writeAllAt } from '../fs-util.js';
import { IdleTimers, PREPARED_IDLE_MS } from './prepare.js';
import { AlignedPool, BlockWriter, DIRECT_BLOCK } from './tree.js';

/** Files written at once per agent. */
export const BUILDS_AT_ONCE = 2;
/** Files named per volume at most (a volume's large new files, in practice a handful). */
export const MAX_BUILDS_PER_VOLUME = 64;

interface Build {
  file: string;
  chunks: ChunkRef[];
  done: boolean;
  /** Resolves true once the whole file is written, false when the build failed or was cancelled. */
  finished: Promise<boolean>;
  begun: boolean;
  abort: AbortController;
  /** Wakes the writer when chunks are added or the build is cancelled. */
  wake: (() => void) | null;
}

export class PreparedBuilds {
  private readonly volumes = new Map<string, { forId: string; files: Map<string, Build> }>();
  private readonly idle: IdleTimers;
  private running = 0;
  private readonly line: Array<() => void> = [];
  private readonly staging: AlignedPool;
  /** Files started, and files a commit took (ferry_agent_standby_built_files_total). */
  readonly counts = { started: 0, taken: 0 };

  constructor(
    private readonly store: ChunkStore,
    idleMs = PREPARED_IDLE_MS,
  ) {
    this.idle = new IdleTimers(idleMs, (volume) => this.discard(volume));
    this.staging = new AlignedPool(DIRECT_BLOCK + store.maxChunkSize + 1, BUILDS_AT_ONCE);
  }

  /** Adds the chunks named by `pieces` to the builds of restore point `forId` of `volume`. */
  add(volume: string, forId: string, pieces: readonly BuildPiece[], tmpDir: string): number {
    let v = this.volumes.get(volume);
    if (v && v.forId !== forId) {
      this.discard(volume);
      v = undefined;
    }
    if (!v) this.volumes.set(volume, (v = { forId, files: new Map() }));
    this.idle.touch(volume);
    let started = 0;
    for (const p of pieces) {
      let b = v.files.get(p.path);
      if (b && (p.from !== b.chunks.length || b.done)) {
        // Named again from another offset (the snapshot re-read the file): start over, or drop it.
        this.cancel(b);
        v.files.delete(p.path);
        b = undefined;
      }
      if (!b) {
        if (p.from !== 0 || v.files.size >= MAX_BUILDS_PER_VOLUME) continue;
        b = this.start(path.join(tmpDir, `built.${newId()}`));
        v.files.set(p.path, b);
        started++;
      }
      for (const c of p.chunks) b.chunks.push(c);
      b.done = p.done;
      b.wake?.();
    }
    return started;
  }

  /**
   * The finished file of entry `e` of restore point `forId`, now the caller's to rename, or null:
   * not named, named with other chunks, not begun yet, or failed. Waits for a build under way.
   */
  async take(volume: string, forId: string, e: FileEntry): Promise<string | null> {
    const v = this.volumes.get(volume);
    const b = v?.forId === forId ? v.files.get(e.path) : undefined;
    if (!v || !b) return null;
    v.files.delete(e.path);
    if (!b.begun || !b.done || !sameChunks(b.chunks, e.chunks)) {
      this.cancel(b);
      return null;
    }
    if (!(await b.finished)) return null;
    const st = await fs.promises.lstat(b.file).catch(() => null);
    if (!st || st.size !== e.size) {
      await fs.promises.rm(b.file, { force: true });
      return null;
    }
    this.counts.taken++;
    return b.file;
  }

  /** Cancels a volume's builds and deletes their files. */
  discard(volume: string): void {
    this.idle.clear(volume);
    const v = this.volumes.get(volume);
    if (!v) return;
    this.volumes.delete(volume);
    for (const b of v.files.values()) this.cancel(b);
  }

  /** Builds of `volume` not taken yet. */
  pending(volume: string): number {
    return this.volumes.get(volume)?.files.size ?? 0;
  }

  private cancel(b: Build): void {
    b.abort.abort();
    b.wake?.();
    void b.finished.then(() => fs.promises.rm(b.file, { force: true }).catch(() => undefined));
  }

  private start(file: string): Build {
    const b: Build = {
      file,
      chunks: [],
      done: false,
      finished: Promise.resolve(false),
      begun: false,
      abort: new AbortController(),
      wake: null,
    };
    this.counts.started++;
    b.finished = this.turn()
      .then(async (release) => {
        try {
          if (b.abort.signal.aborted) return false;
          b.begun = true;
          await this.write(b);
          return true;
        } finally {
          release();
        }
      })
      .catch(async () => {
        await fs.promises.rm(file, { force: true }).catch(() => undefined);
        return false;
      });
    return b;
  }

  /** Waits for one of the BUILDS_AT_ONCE slots; resolves with its release. */
  private async turn(): Promise<() => void> {
    if (this.running >= BUILDS_AT_ONCE) await new Promise<void>((r) => this.line.push(r));
    this.running++;
    return () => {
      this.running--;
      this.line.shift()?.();
    };
  }

  /**
   * Writes `b`'s chunks in order as they arrive: whole 8 MiB blocks with O_DIRECT from an aligned
   * staging buffer (as tree.ts writes a large file), the last partial 4 KiB block through the page
   * cache; chunks already in the store are read in runs ahead (ChunkStore.rawInOrder).
   */
  private async write(b: Build): Promise<void> {
    const signal = b.abort.signal;
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
    let fd: number;
    try {
      fd = fs.openSync(b.file, flags | (fs.constants.O_DIRECT ?? 0), 0o600);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINVAL') throw err;
      fd = fs.openSync(b.file, flags, 0o600); // no O_DIRECT here (tmpfs): the same writes, buffered
    }
    const dev = fs.fstatSync(fd).dev;
    const staging = this.staging.take(dev, fd);
    const scratch = Buffer.allocUnsafeSlow(this.store.maxChunkSize + 1);
    try {
      if (!staging) throw new Error('no staging buffer for this filesystem');
      const blocks = new BlockWriter(fd, staging, (w, bytes) => this.store.stages.wait('write', bytes, w));
      for (let i = 0; ;) {
        if (signal.aborted) throw new Error('cancelled');
        if (i === b.chunks.length) {
          if (b.done) break;
          await new Promise<void>((r) => (b.wake = r));
          b.wake = null;
          continue;
        }
        const first = (b.chunks[i] as ChunkRef)[0];
        if (!this.store.has(first)) {
          await this.store.whenPresent(first, signal);
          continue;
        }
        let j = i + 1;
        while (j < b.chunks.length && this.store.has((b.chunks[j] as ChunkRef)[0])) j++;
        let k = i;
        for await (const raw of this.store.rawInOrder(
          b.chunks.slice(i, j).map(([h]) => h),
          scratch,
        )) {
          const [h, len] = b.chunks[k++] as ChunkRef;
          if (raw.length !== len) throw new Error(`chunk ${h}: ${raw.length} bytes, named with ${len}`);
          await blocks.add(raw);
        }
        i = j;
      }
      const { tail, at } = await blocks.alignedPart();
      const rest = fs.openSync(b.file, 'r+');
      try {
        if (tail.length > 0) await this.store.stages.wait('write', tail.length, writeAllAt(rest, tail, at));
        fs.ftruncateSync(rest, blocks.size); // the staging probe wrote a block at 0 of a file maybe shorter
      } finally {
        fs.closeSync(rest);
      }
    } finally {
      fs.closeSync(fd);
      if (staging) this.staging.give(dev, staging);
    }
  }
}
