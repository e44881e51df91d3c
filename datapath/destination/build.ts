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
//
// A chunk that arrives while a build being written still needs it (at a position of its file the
// writer has not reached) is handed to the build (offer) instead of being stored in a pack: it is
// written once, into the file, and is found afterwards in the restore point holding that file
// (file-chunks.ts). Until the commit indexes that restore point, the build itself answers for it
// (has, read: from the queue, the staging buffer or the file, never waiting for the writer); a
// build that fails or is not taken loses its chunks, and the commit that needs them answers 409
// missing_chunks, after which the sender sends them again. Measured (docs/benchmarks.md, ninth
// session): a 2 GiB full copy 18.4-19.1 -> 15.6-16.3 s, the destination's CPU 14.1 -> 10.8-11.8 s;
// a queue of 64 MiB took more chunks (24,400 of ~27,000 against 16,100) but was slower in two
// pairs (16.9 and 18.7 s against 15.5 and 15.6), so it stays at 32 MiB.
import fs from 'node:fs';
import path from 'node:path';
import type { ChunkElsewhere, ChunkStore } from '../store/chunk-store.js';
import { type ChunkRef, type FileEntry, sameChunks } from '../protocol/manifest.js';
import type { BuildPiece } from '../protocol/build-hints.js';
import { newId, readAllAt, writeAllAt } from '../fs-util.js';
import { IdleTimers, PREPARED_IDLE_MS } from './prepare.js';
import { AlignedPool, BlockWriter, DIRECT_BLOCK } from './tree.js';

/** Files written at once per agent. */
export const BUILDS_AT_ONCE = 2;
/** Files named per volume at most (a volume's large new files, in practice a handful). */
export const MAX_BUILDS_PER_VOLUME = 64;
/** Bytes of offered chunks a build holds in memory before its writer takes them. */
export const OFFER_QUEUE_BYTES = 32 * 1024 * 1024;
/** Offered chunks are copied into slabs of this size, at most OFFER_SLABS of them at once. */
const OFFER_SLAB_BYTES = 1024 * 1024;
const OFFER_SLABS = 48;

interface Slab {
  buf: Buffer;
  used: number;
  /** Chunks in it the writer has not taken yet. */
  live: number;
}

/**
 * Memory for offered chunks: 1 MiB slabs filled one after the other and reused once every chunk
 * in them is written. Why: a buffer per chunk (64 KiB on average) made the garbage collector's
 * external-memory accounting start major collections during a full copy.
 */
class OfferSlabs {
  private cur: Slab | null = null;
  private readonly free: Slab[] = [];
  private count = 0;

  /** Room for `len` bytes (with the slab to give back), or null when all slabs are in use. */
  take(len: number): { view: Buffer; slab: Slab } | null {
    let s = this.cur;
    if (!s || s.used + len > s.buf.length) {
      if (s && s.live === 0) s.used = 0;
      else {
        s = this.free.pop() ?? null;
        if (!s) {
          if (this.count >= OFFER_SLABS) return null;
          this.count++;
          s = { buf: Buffer.allocUnsafeSlow(Math.max(OFFER_SLAB_BYTES, len)), used: 0, live: 0 };
        }
        this.cur = s;
      }
      if (s.used + len > s.buf.length) return null; // a chunk larger than a slab, never in practice
    }
    const view = s.buf.subarray(s.used, s.used + len);
    s.used += len;
    s.live++;
    return { view, slab: s };
  }

  give(s: Slab): void {
    s.live--;
    if (s.live === 0 && s !== this.cur) {
      s.used = 0;
      this.free.push(s);
    }
  }
}

interface Build {
  file: string;
  chunks: ChunkRef[];
  done: boolean;
  /** Its commit has begun (settle): no chunk arrives any more, so one still missing never will. */
  final: boolean;
  /** Resolves true once the whole file is written, false when the build failed or was cancelled. */
  finished: Promise<boolean>;
  begun: boolean;
  abort: AbortController;
  /** Wakes the writer when chunks are added or offered, or the build is cancelled. */
  wake: (() => void) | null;
  /** Each chunk's file offset (chunks[k] starts at offsets[k]) and the named chunks' total. */
  offsets: number[];
  total: number;
  /** Positions in `chunks` of each hash that offer() may still fill (from `planned` on). */
  positions: Map<string, number[]>;
  /** Positions below this one are written or about to be read from the store by the writer. */
  planned: number;
  /** Offered chunks waiting for the writer, by position, and their bytes. */
  queue: Map<number, { view: Buffer; slab: Slab }>;
  queued: number;
  /** The writer's staging (bytes not on disk yet), while it writes. */
  blocks: BlockWriter | null;
  /** A descriptor to read the file back with (its taken chunks), open from its creation until released. */
  readFd: number | null;
}

/** A chunk a build took from the wire (offer): where it is in the build's file. */
interface Held {
  b: Build;
  at: number;
  len: number;
  /** Its bytes while they wait in the build's queue. */
  copy: Buffer | null;
}

export class PreparedBuilds implements ChunkElsewhere {
  private readonly volumes = new Map<string, { forId: string; files: Map<string, Build>; taken: Build[] }>();
  /** Builds being written (at most BUILDS_AT_ONCE): the ones offer() may give chunks to. */
  private readonly writing = new Set<Build>();
  /** Chunks builds took from the wire, until their commit indexes them or the build is dropped. */
  private readonly held = new Map<string, Held>();
  private readonly slabs = new OfferSlabs();
  private readonly idle: IdleTimers;
  private running = 0;
  private readonly line: Array<() => void> = [];
  private readonly staging: AlignedPool;
  /** Files started, files a commit took, chunks taken from the wire (offer). */
  readonly counts = { started: 0, taken: 0, offered: 0 };

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
    if (!v) this.volumes.set(volume, (v = { forId, files: new Map(), taken: [] }));
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
      for (const c of p.chunks) {
        const k = b.chunks.push(c) - 1;
        b.offsets.push(b.total);
        b.total += c[1];
        const ps = b.positions.get(c[0]);
        if (ps) ps.push(k);
        else b.positions.set(c[0], [k]);
      }
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
      this.release(b);
      await fs.promises.rm(b.file, { force: true });
      return null;
    }
    v.taken.push(b);
    this.counts.taken++;
    return b.file;
  }

  /**
   * Before the commit of restore point `forId` of `volume`: waits for its builds that were named
   * to the end, and cancels the others (a commit takes only whole files), so that what has() says
   * about taken chunks holds for the commit. The sender commits once its transfer is over, so a
   * chunk a build still waits for is not coming (the destination said it had it and lost it since,
   * or a cancelled build took it): that build fails now, and the commit answers 409 missing_chunks
   * for it as for any chunk not received. Waiting for it instead hung the commit, and with it every
   * later commit of the volume.
   */
  async settle(volume: string, forId: string): Promise<void> {
    const v = this.volumes.get(volume);
    if (!v || v.forId !== forId) return;
    for (const [p, b] of [...v.files]) {
      if (b.done) continue;
      v.files.delete(p);
      this.cancel(b);
    }
    for (const b of v.files.values()) {
      b.final = true;
      b.wake?.();
    }
    await Promise.all([...v.files.values()].map((b) => b.finished));
  }

  /**
   * Takes chunk `hex` (its verified raw bytes, copied) for a build being written that still needs
   * it, if there is one with room in its queue; false leaves it to the caller to store. Chunks come
   * out of order (the sender has several uploads in flight), so any position the writer has not
   * planned yet is taken.
   */
  offer(hex: string, raw: Uint8Array): boolean {
    if (this.held.has(hex)) return false;
    for (const b of this.writing) {
      const ps = b.positions.get(hex);
      if (!ps || b.abort.signal.aborted) continue;
      while (ps.length > 0 && (ps[0] as number) < b.planned) ps.shift();
      const p = ps[0];
      if (p === undefined) {
        b.positions.delete(hex);
        continue;
      }
      const len = (b.chunks[p] as ChunkRef)[1];
      if (len !== raw.length || b.queued + len > OFFER_QUEUE_BYTES) continue;
      const room = this.slabs.take(len);
      if (!room) return false;
      ps.shift();
      room.view.set(raw);
      b.queue.set(p, room);
      b.queued += len;
      this.held.set(hex, { b, at: b.offsets[p] as number, len, copy: room.view });
      this.counts.offered++;
      // every writer: one may be waiting for this chunk at another position of its file
      for (const w of this.writing) w.wake?.();
      return true;
    }
    return false;
  }

  has(hex: string): boolean {
    return this.held.has(hex);
  }

  /** A taken chunk's bytes: from the queue, the writer's staging or the file; never waits for the writer. */
  async read(hex: string): Promise<Buffer | null> {
    const h = this.held.get(hex);
    if (!h) return null;
    if (h.copy) return Buffer.from(h.copy);
    const { b, at, len } = h;
    const staged = b.blocks?.staged(at, len);
    if (staged) return Buffer.from(staged);
    if (b.readFd === null) return null;
    const buf = Buffer.allocUnsafe(len);
    const n = await readAllAt(b.readFd, buf, 0, len, at).catch(() => 0);
    return n === len ? buf : null;
  }

  /**
   * Cancels a volume's builds and deletes their files; forgets the chunks of the builds its commit
   * took (indexed by then, file-chunks.ts, if that commit succeeded).
   */
  discard(volume: string): void {
    this.idle.clear(volume);
    const v = this.volumes.get(volume);
    if (!v) return;
    this.volumes.delete(volume);
    for (const b of v.files.values()) this.cancel(b);
    for (const b of v.taken) this.release(b);
  }

  /** Forgets the chunks `b` took and closes its read descriptor. */
  private release(b: Build): void {
    for (const [hex, h] of this.held) if (h.b === b) this.held.delete(hex);
    for (const q of b.queue.values()) this.slabs.give(q.slab);
    b.queue.clear();
    b.queued = 0;
    b.positions.clear();
    if (b.readFd !== null) fs.close(b.readFd, () => undefined);
    b.readFd = null;
  }

  /** Builds of `volume` not taken yet. */
  pending(volume: string): number {
    return this.volumes.get(volume)?.files.size ?? 0;
  }

  private cancel(b: Build): void {
    b.abort.abort();
    b.wake?.();
    for (const [hex, h] of this.held) if (h.b === b) this.held.delete(hex);
    void b.finished.then(() => {
      this.release(b);
      return fs.promises.rm(b.file, { force: true }).catch(() => undefined);
    });
  }

  private start(file: string): Build {
    const b: Build = {
      file,
      chunks: [],
      done: false,
      final: false,
      finished: Promise.resolve(false),
      begun: false,
      abort: new AbortController(),
      wake: null,
      offsets: [],
      total: 0,
      positions: new Map(),
      planned: 0,
      queue: new Map(),
      queued: 0,
      blocks: null,
      readFd: null,
    };
    this.counts.started++;
    b.finished = this.turn()
      .then(async (release) => {
        try {
          if (b.abort.signal.aborted) return false;
          b.begun = true;
          this.writing.add(b);
          await this.write(b);
          return true;
        } finally {
          this.writing.delete(b);
          release();
        }
      })
      .catch(async () => {
        this.release(b);
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
    b.readFd = fs.openSync(b.file, 'r');
    const dev = fs.fstatSync(fd).dev;
    const staging = this.staging.take(dev, fd);
    const scratch = Buffer.allocUnsafeSlow(this.store.maxChunkSize + 1);
    try {
      if (!staging) throw new Error('no staging buffer for this filesystem');
      const blocks = new BlockWriter(fd, staging, (w, bytes) => this.store.stages.wait('write', bytes, w));
      b.blocks = blocks;
      for (let i = 0; ;) {
        if (signal.aborted) throw new Error('cancelled');
        const queued = b.queue.get(i);
        if (queued) {
          b.queue.delete(i);
          b.queued -= queued.view.length;
          b.planned = Math.max(b.planned, i + 1);
          const [h] = b.chunks[i++] as ChunkRef;
          const adding = blocks.add(queued.view); // copies it into the staging buffer before it awaits
          const held = this.held.get(h);
          if (held?.copy === queued.view) held.copy = null;
          this.slabs.give(queued.slab);
          await adding;
          continue;
        }
        if (i === b.chunks.length) {
          if (b.done) break;
          await new Promise<void>((r) => (b.wake = r));
          b.wake = null;
          continue;
        }
        const first = (b.chunks[i] as ChunkRef)[0];
        if (this.held.has(first)) {
          // taken by a build (this one, at another place in the file, or another one)
          const raw = await this.read(first);
          if (!raw) throw new Error(`chunk ${first}: taken by a build that no longer has it`);
          b.planned = Math.max(b.planned, i + 1);
          i++;
          await blocks.add(raw);
          continue;
        }
        if (!this.store.holds(first)) {
          if (b.final) throw new Error(`chunk ${first}: not received by the time of the commit`);
          await this.arrival(b, first, signal);
          continue;
        }
        let j = i + 1;
        const inStore = (k: number): boolean => {
          const h = (b.chunks[k] as ChunkRef)[0];
          return !b.queue.has(k) && !this.held.has(h) && this.store.holds(h);
        };
        while (j < b.chunks.length && inStore(j)) j++;
        b.planned = Math.max(b.planned, j); // offers from here on are for the chunks after this run
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
      b.blocks = null;
      fs.closeSync(fd);
      if (staging) this.staging.give(dev, staging);
    }
  }

  /** Waits until chunk `hex` reaches the store, or a chunk is offered to a writer, or `signal` aborts. */
  private async arrival(b: Build, hex: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const w = this.store.whenPresent(hex);
    signal.addEventListener('abort', w.cancel, { once: true });
    try {
      await Promise.race([w.arrived, new Promise<void>((r) => (b.wake = r))]);
    } finally {
      b.wake = null;
      w.cancel();
      signal.removeEventListener('abort', w.cancel);
    }
  }
}
